// The labelling widget for a label schema type. Each returns {element, payload(), dispose?()};
// payload() throws IncompleteLabel while the label is not finished.

import { boxesWidget } from './boxes.js';
import { classificationWidget } from './classification.js';
import { pairwiseWidget } from './pairwise.js';
import { spansWidget } from './spans.js';

const WIDGETS = {
  classification: classificationWidget,
  spans: spansWidget,
  boxes: boxesWidget,
  pairwise: pairwiseWidget,
};

export function widgetFor(offer) {
  const make = WIDGETS[offer.label_schema.type];
  if (!make) throw new Error(`this page cannot label "${offer.label_schema.type}" tasks`);
  return make(offer);
}

export { IncompleteLabel } from './taskData.js';
