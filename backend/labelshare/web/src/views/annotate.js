// Annotate: pick an open project, take its next task, label it, sign and submit, repeat.

import { apiFetch } from '../api.js';
import { formatToken } from '../chainReads.js';
import { $, describeError, el, showNotice } from '../dom.js';
import { state, walletOnServiceChain } from '../state.js';
import { signAndSubmit } from '../submission.js';
import { IncompleteLabel, widgetFor } from '../widgets/index.js';

let projects = [];
let offer = null; // the task being labelled (GET /tasks/next)
let widget = null;

const SCHEMA_NAMES = { classification: 'classification', spans: 'text spans', boxes: 'image boxes', pairwise: 'pairwise preference' };

export async function loadProjects() {
  const select = $('project-select');
  const previous = select.value;
  projects = await apiFetch('/projects');
  select.replaceChildren(...projects.map((p) => el('option', { value: String(p.id) },
    `#${p.id} ${p.name} (${SCHEMA_NAMES[p.label_schema.type] ?? p.label_schema.type})`)));
  if (!projects.length) select.append(el('option', { value: '' }, 'No open project'));
  if (projects.some((p) => String(p.id) === previous)) select.value = previous;
  showProject();
  return projects;
}

export function openProjects() {
  return projects;
}

function selectedProject() {
  return projects.find((p) => String(p.id) === $('project-select').value) ?? null;
}

function showProject() {
  const project = selectedProject();
  clearTask();
  $('next-task').disabled = !project;
  if (!project) { $('project-info').replaceChildren(); return; }
  $('project-info').replaceChildren(
    el('p', { class: 'instructions', 'data-testid': 'project-instructions' }, project.instructions),
    el('p', { class: 'hint' },
      `${SCHEMA_NAMES[project.label_schema.type] ?? project.label_schema.type} · domain ${project.domain} · `,
      `${formatToken(project.reward_per_label)} per accepted label · ${project.overlap} annotator(s) per task`));
}

function clearTask() {
  widget?.dispose?.();
  widget = null;
  offer = null;
  $('task-form').hidden = true;
  $('task-widget').replaceChildren();
  showNotice($('task-error'), '');
  $('no-task').hidden = true;
}

async function nextTask() {
  const project = selectedProject();
  if (!project) return;
  clearTask();
  $('submission-result').hidden = true;
  try {
    offer = await apiFetch(`/tasks/next?project_id=${project.id}`);
  } catch (err) {
    showNotice($('task-error'), describeError(err));
    return;
  }
  if (!offer) { $('no-task').hidden = false; return; } // 204: nothing left for this annotator
  try {
    widget = widgetFor(offer);
  } catch (err) {
    showNotice($('task-error'), describeError(err));
    return;
  }
  $('task-id').textContent = offer.task_id;
  $('task-widget').replaceChildren(widget.element); // the project's instructions are shown above
  $('submit-label').disabled = false;
  $('task-form').hidden = false;
}

async function submitLabel(event) {
  event.preventDefault();
  if (!offer || !widget) return;
  showNotice($('task-error'), '');
  let payload;
  try {
    payload = widget.payload();
  } catch (err) {
    if (err instanceof IncompleteLabel) { showNotice($('task-error'), `Not finished: ${err.message}.`); return; }
    throw err;
  }
  if (!walletOnServiceChain()) {
    showNotice($('task-error'), `Your wallet is on chain ${state.wallet?.chainId}; switch it to chain ${state.chain.chain_id} to sign.`);
    return;
  }
  $('submit-label').disabled = true;
  try {
    const submission = await signAndSubmit(offer, payload);
    showResult(submission, payload);
    clearTask();
  } catch (err) {
    // Keep the task and the label so the annotator can fix what the server named.
    showNotice($('task-error'), `Not accepted: ${describeError(err)}`);
    $('submit-label').disabled = false;
  }
}

function showResult(submission, payload) {
  const box = $('submission-result');
  box.dataset.submissionId = String(submission.id);
  box.dataset.status = submission.status;
  box.dataset.labelHash = submission.label_hash;
  box.replaceChildren(
    el('p', {}, el('strong', {}, `Submission #${submission.id} received`), ` · status `,
      el('span', { class: `status-${submission.status}`, 'data-testid': 'result-status' }, submission.status),
      submission.reason ? ` (${submission.reason})` : '',
      ` · reward ${submission.status === 'accepted' ? formatToken(submission.reward) : 'once accepted'}`),
    el('p', { class: 'hint' }, 'Label hash ', el('code', { 'data-testid': 'result-label-hash' }, submission.label_hash),
      ' of the label you signed:'),
    el('pre', { 'data-testid': 'submitted-payload' }, JSON.stringify(payload)),
    el('button', { type: 'button', 'data-testid': 'result-next-task', onclick: nextTask }, 'Next task'));
  box.hidden = false;
}

export function initAnnotate() {
  $('project-select').addEventListener('change', () => { $('submission-result').hidden = true; showProject(); });
  $('reload-projects').addEventListener('click', () => loadProjects().catch((err) => showNotice($('task-error'), describeError(err))));
  $('next-task').addEventListener('click', nextTask);
  $('task-form').addEventListener('submit', (event) => {
    submitLabel(event).catch((err) => { showNotice($('task-error'), describeError(err)); $('submit-label').disabled = false; });
  });
}
