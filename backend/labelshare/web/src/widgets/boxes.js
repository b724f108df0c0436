// Image boxes: drag rectangles on data.image, each with the chosen label →
// {"boxes": [{x, y, w, h, label}]} in whole image pixels (data.width × data.height when the task
// gives them, else the image's natural size), whatever size the image is shown at.

import { el } from '../dom.js';
import { IncompleteLabel } from './taskData.js';

const MIN_DRAG_PX = 3; // smaller drags are clicks, not boxes

export function boxesWidget(offer) {
  const { data, label_schema: schema } = offer;
  const maxBoxes = schema.max_boxes ?? 100;
  const boxes = [];
  let size = Number.isFinite(data.width) && Number.isFinite(data.height) ? { w: data.width, h: data.height } : null;
  let drag = null; // {start: image point, startClient: {x, y}}

  const image = el('img', { src: data.image, alt: 'task image: drag to draw a box', draggable: 'false', id: 'box-image', 'data-testid': 'box-image' });
  const draft = el('div', { class: 'box draft', hidden: true });
  const layer = el('div');
  const stage = el('div', { class: 'box-stage', id: 'box-stage', 'data-testid': 'box-stage' }, image, layer, draft);
  const labelSelect = el('select', { id: 'box-label', 'data-testid': 'box-label', 'aria-label': 'Box label' },
    schema.labels.map((label) => el('option', { value: label }, label)));
  const hint = el('span', { class: 'hint', role: 'status', 'data-testid': 'box-hint' }, 'Drag on the image to draw a box.');
  const list = el('ol', { class: 'item-list', id: 'box-list', 'data-testid': 'box-list' });
  const none = el('input', { type: 'checkbox', id: 'boxes-none', 'data-testid': 'boxes-none' });

  image.addEventListener('load', () => { size ??= { w: image.naturalWidth, h: image.naturalHeight }; render(); });
  image.addEventListener('error', () => { hint.textContent = 'The image could not be loaded.'; });

  // A pointer position as (fractional) image pixels, clamped to the image.
  function imagePoint(event) {
    const rect = image.getBoundingClientRect();
    const fx = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    const fy = Math.min(Math.max((event.clientY - rect.top) / rect.height, 0), 1);
    return { x: fx * size.w, y: fy * size.h };
  }

  // Rounding both corners (not x and w separately) keeps x + w within the image.
  function toBox(a, b) {
    const x = Math.round(Math.min(a.x, b.x));
    const y = Math.round(Math.min(a.y, b.y));
    return { x, y, w: Math.round(Math.max(a.x, b.x)) - x, h: Math.round(Math.max(a.y, b.y)) - y };
  }

  function place(node, box) {
    Object.assign(node.style, { left: `${(100 * box.x) / size.w}%`, top: `${(100 * box.y) / size.h}%`,
      width: `${(100 * box.w) / size.w}%`, height: `${(100 * box.h) / size.h}%` });
  }

  function addBox(box) {
    if (box.w < 1 || box.h < 1) { hint.textContent = 'That box is empty.'; return; }
    if (box.x < 0 || box.y < 0 || box.x + box.w > size.w || box.y + box.h > size.h) {
      hint.textContent = `A box must lie within the image (${size.w}×${size.h}).`; return;
    }
    if (boxes.length >= maxBoxes) { hint.textContent = `At most ${maxBoxes} boxes.`; return; }
    boxes.push({ ...box, label: labelSelect.value });
    hint.textContent = `Added a ${box.w}×${box.h} box.`;
    render();
  }

  stage.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || !size) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    drag = { start: imagePoint(event), startClient: { x: event.clientX, y: event.clientY } };
  });
  stage.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const box = toBox(drag.start, imagePoint(event));
    place(draft, box);
    draft.hidden = false;
  });
  stage.addEventListener('pointerup', (event) => {
    if (!drag) return;
    const { start, startClient } = drag;
    drag = null;
    draft.hidden = true;
    if (Math.abs(event.clientX - startClient.x) < MIN_DRAG_PX && Math.abs(event.clientY - startClient.y) < MIN_DRAG_PX) return;
    addBox(toBox(start, imagePoint(event)));
  });
  stage.addEventListener('pointercancel', () => { drag = null; draft.hidden = true; });

  // Keyboard and precise entry: the same box by its numbers.
  const numberInput = (name) => el('input', { type: 'number', min: '0', step: '1', 'aria-label': name, placeholder: name, size: '5', 'data-testid': `box-input-${name}` });
  const inputs = { x: numberInput('x'), y: numberInput('y'), w: numberInput('w'), h: numberInput('h') };
  const manual = el('details', {}, el('summary', {}, 'Enter a box by its coordinates'),
    el('div', { class: 'tool-row' }, Object.values(inputs),
      el('button', { type: 'button', 'data-testid': 'add-box', onclick: () => {
        if (!size) return;
        const box = Object.fromEntries(Object.entries(inputs).map(([key, input]) => [key, Math.round(Number(input.value))]));
        if (Object.values(box).some((v) => !Number.isFinite(v))) { hint.textContent = 'Enter x, y, w and h.'; return; }
        addBox(box);
      } }, 'Add box')));

  function render() {
    if (!size) return;
    layer.replaceChildren(...boxes.map((box) => {
      const node = el('div', { class: 'box' }, el('span', {}, box.label));
      place(node, box);
      return node;
    }));
    list.replaceChildren(...boxes.map((box, index) => el('li', { 'data-testid': 'box-item' },
      el('strong', {}, box.label), ` x ${box.x}, y ${box.y}, ${box.w}×${box.h}`,
      el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${box.label} box ${index + 1}`,
        onclick: () => { boxes.splice(index, 1); render(); } }, 'Remove'))));
  }

  return {
    element: el('div', {},
      el('div', { class: 'tool-row' }, el('label', { for: 'box-label' }, 'Label for new boxes'), labelSelect, hint),
      stage, manual, list,
      el('label', {}, none, ' This image has nothing to label')),
    payload() {
      if (!boxes.length && !none.checked) throw new IncompleteLabel('draw a box, or tick "nothing to label"');
      return { boxes: boxes.map(({ x, y, w, h, label }) => ({ x, y, w, h, label })) };
    },
  };
}
