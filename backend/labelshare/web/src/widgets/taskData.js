// Shows a task's data as the annotator should see it: text as text, images as images (URL or
// data: URL), anything else as JSON. Never as HTML: task data comes from requesters.

import { el } from '../dom.js';

export function isImageSource(value) {
  return typeof value === 'string' && (/^data:image\//.test(value) || /^https?:\/\/\S+\.(png|jpe?g|gif|webp|svg)(\?\S*)?$/i.test(value));
}

export function renderValue(value, name) {
  if (isImageSource(value)) return el('img', { src: value, alt: name ? `task ${name}` : 'task image' });
  if (typeof value === 'string') return el('div', { class: 'task-data' }, value);
  return el('pre', { class: 'task-data' }, JSON.stringify(value, null, 2));
}

export function renderTaskData(data) {
  const shown = [];
  if (data.text !== undefined) shown.push(renderValue(data.text, 'text'));
  if (data.image !== undefined) shown.push(renderValue(data.image, 'image'));
  const rest = Object.fromEntries(Object.entries(data).filter(([key]) => key !== 'text' && key !== 'image'));
  if (Object.keys(rest).length || !shown.length) shown.push(renderValue(rest));
  return el('div', { class: 'task-content', 'data-testid': 'task-data' }, shown);
}

/** A radio group: one choice of `options` ([{value, label}]); returns {element, value()}. */
export function choiceGroup(legend, name, options) {
  const element = el('fieldset', { class: 'choices', 'data-testid': `${name}-choices` },
    el('legend', {}, legend),
    options.map(({ value, label }) => el('label', {},
      el('input', { type: 'radio', name, value, 'data-testid': `choice-${value}` }), label)));
  return {
    element,
    value: () => element.querySelector('input:checked')?.value ?? null,
  };
}

export class IncompleteLabel extends Error {}
