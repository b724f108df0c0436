// Pairwise preference between data.a and data.b → {"choice": "a" | "b" | "tie"}.

import { el } from '../dom.js';
import { choiceGroup, IncompleteLabel, renderValue } from './taskData.js';

export function pairwiseWidget(offer) {
  const { data, label_schema: schema } = offer;
  const options = [{ value: 'a', label: 'A is better' }, { value: 'b', label: 'B is better' }];
  if (schema.allow_tie) options.push({ value: 'tie', label: 'Tie' });
  const choices = choiceGroup('Which is better?', 'choice', options);
  const rest = Object.fromEntries(Object.entries(data).filter(([key]) => key !== 'a' && key !== 'b'));
  return {
    element: el('div', {},
      Object.keys(rest).length ? renderValue(rest) : null,
      el('div', { class: 'pair' },
        el('div', { 'data-testid': 'pair-a' }, el('strong', {}, 'A'), el('br'), renderValue(data.a, 'A')),
        el('div', { 'data-testid': 'pair-b' }, el('strong', {}, 'B'), el('br'), renderValue(data.b, 'B'))),
      choices.element),
    payload() {
      const choice = choices.value();
      if (choice === null) throw new IncompleteLabel('choose A, B' + (schema.allow_tie ? ' or tie' : ''));
      return { choice };
    },
  };
}
