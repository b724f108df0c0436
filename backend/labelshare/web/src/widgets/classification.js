// Classification: one label of the schema's list → {"label": "..."}.

import { el } from '../dom.js';
import { choiceGroup, IncompleteLabel, renderTaskData } from './taskData.js';

export function classificationWidget(offer) {
  const choices = choiceGroup('Label', 'label', offer.label_schema.labels.map((label) => ({ value: label, label })));
  return {
    element: el('div', {}, renderTaskData(offer.data), choices.element),
    payload() {
      const label = choices.value();
      if (label === null) throw new IncompleteLabel('choose a label');
      return { label };
    },
  };
}
