// Small DOM helpers: the page is plain HTML with a few generated fragments.

export const $ = (id) => document.getElementById(id);

/** Creates an element: el('td', {class: 'x', dataset: {id: 1}}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Shows `message` in a notice element, or hides it when message is empty. */
export function showNotice(node, message) {
  node.textContent = message || '';
  node.hidden = !message;
}

/** An error message for the user: the API's detail and field when it has them. */
export function describeError(err) {
  if (err && err.detail !== undefined) {
    return err.field ? `${err.detail} (field: ${err.field})` : String(err.detail);
  }
  // Wallets reject with EIP-1193 errors; viem wraps them with a shortMessage.
  return (err && (err.shortMessage || err.message)) || String(err);
}

export function shortHex(value, chars = 6) {
  const s = String(value);
  return s.length > 2 * chars + 3 ? `${s.slice(0, chars + 2)}…${s.slice(-chars)}` : s;
}
