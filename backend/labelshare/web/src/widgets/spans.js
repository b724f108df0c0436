// Text spans: select a passage of data.text, pick a label, add; → {"spans": [{start, end, label}]}
// sorted and non-overlapping. Offsets count Unicode code points (what Python's len() counts),
// not the UTF-16 units of JavaScript strings and DOM selections, so "🙂" is one character.

import { el } from '../dom.js';
import { IncompleteLabel } from './taskData.js';

export function spansWidget(offer) {
  const { data, label_schema: schema } = offer;
  const codePoints = Array.from(typeof data.text === 'string' ? data.text : '');
  const maxSpans = schema.max_spans ?? 100;
  const spans = []; // {start, end, label} in code points, kept sorted
  let selection = null; // the latest passage selected in the text, {start, end}

  const textBox = el('div', { class: 'span-text', id: 'span-text', 'data-testid': 'span-text', tabindex: '0',
    'aria-label': 'Task text: select a passage, then add it as a span' });
  const labelSelect = el('select', { id: 'span-label', 'data-testid': 'span-label', 'aria-label': 'Span label' },
    schema.labels.map((label) => el('option', { value: label }, label)));
  const addButton = el('button', { type: 'button', id: 'add-span', 'data-testid': 'add-span' }, 'Add span');
  const hint = el('span', { class: 'hint', role: 'status', 'data-testid': 'span-hint' }, 'Select a passage of the text.');
  const list = el('ol', { class: 'item-list', id: 'span-list', 'data-testid': 'span-list' });
  const none = el('input', { type: 'checkbox', id: 'spans-none', 'data-testid': 'spans-none' });

  const slice = (start, end) => codePoints.slice(start, end).join('');

  // Code-point offset of a DOM position inside the text: the length of everything before it.
  function offsetOf(node, offset) {
    const range = document.createRange();
    range.setStart(textBox, 0);
    range.setEnd(node, offset);
    return Array.from(range.toString()).length;
  }

  function captureSelection() {
    const current = window.getSelection();
    if (!current || current.isCollapsed || current.rangeCount === 0) return;
    const range = current.getRangeAt(0);
    if (!textBox.contains(range.startContainer) || !textBox.contains(range.endContainer)) return;
    let start = offsetOf(range.startContainer, range.startOffset);
    let end = offsetOf(range.endContainer, range.endOffset);
    // Double-clicking a word often selects the space after it too.
    while (start < end && /\s/u.test(codePoints[start])) start += 1;
    while (end > start && /\s/u.test(codePoints[end - 1])) end -= 1;
    if (end <= start) return;
    selection = { start, end };
    hint.textContent = `Selected “${slice(start, end)}” (characters ${start}–${end}).`;
  }
  document.addEventListener('selectionchange', captureSelection);

  function render() {
    const parts = [];
    let at = 0;
    for (const span of spans) {
      if (span.start > at) parts.push(slice(at, span.start));
      parts.push(el('mark', { dataset: { label: span.label } }, slice(span.start, span.end)));
      at = span.end;
    }
    parts.push(slice(at));
    textBox.replaceChildren(...parts);
    list.replaceChildren(...spans.map((span, index) => el('li', { 'data-testid': 'span-item' },
      `“${slice(span.start, span.end)}” `, el('strong', {}, span.label), ` (${span.start}–${span.end})`,
      el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove span ${slice(span.start, span.end)}`,
        onclick: () => { spans.splice(index, 1); render(); } }, 'Remove'))));
  }

  addButton.addEventListener('click', () => {
    if (!selection) { hint.textContent = 'Select a passage of the text first.'; return; }
    const { start, end } = selection;
    const clash = spans.find((span) => start < span.end && span.start < end);
    if (clash) { hint.textContent = `That overlaps “${slice(clash.start, clash.end)}”: spans must not overlap.`; return; }
    if (spans.length >= maxSpans) { hint.textContent = `At most ${maxSpans} spans.`; return; }
    spans.push({ start, end, label: labelSelect.value });
    spans.sort((a, b) => a.start - b.start);
    selection = null;
    window.getSelection()?.removeAllRanges();
    hint.textContent = 'Added. Select another passage, or submit.';
    render();
  });

  render();
  return {
    element: el('div', {}, textBox,
      el('div', { class: 'tool-row' }, el('label', { for: 'span-label' }, 'Label'), labelSelect, addButton, hint),
      list,
      el('label', {}, none, ' This text has nothing to label')),
    payload() {
      if (!spans.length && !none.checked) throw new IncompleteLabel('add a span, or tick "nothing to label"');
      return { spans: spans.map(({ start, end, label }) => ({ start, end, label })) };
    },
    dispose() {
      document.removeEventListener('selectionchange', captureSelection);
    },
  };
}
