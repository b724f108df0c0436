// My projects (requesters): progress (public stats) and the owner-only quality summary of each
// project the signed-in address owns, open or closed.

import { apiFetch } from '../api.js';
import { $, describeError, el, shortHex, showNotice } from '../dom.js';
import { state } from '../state.js';

const percent = (value) => (value == null ? '–' : `${(100 * value).toFixed(1)}%`);

/** Which of these (open) projects the signed-in address owns. */
export function ownedProjects(projects) {
  const me = state.session?.address?.toLowerCase();
  return me ? projects.filter((p) => p.owner.toLowerCase() === me) : [];
}

export async function refreshRequester() {
  showNotice($('requester-error'), '');
  const mine = await apiFetch(`/projects?owner=${encodeURIComponent(state.session.address)}`);
  if (!mine.length) {
    $('requester-projects').replaceChildren(el('p', { class: 'hint' }, 'You own no project.'));
    return;
  }
  const cards = await Promise.all(mine.map(projectCard));
  $('requester-projects').replaceChildren(...cards);
}

async function projectCard(project) {
  const card = el('article', { class: 'project-card', 'data-testid': 'requester-project', dataset: { projectId: String(project.id) } },
    el('h3', {}, `#${project.id} ${project.name}`));
  const [stats, quality] = await Promise.allSettled([
    apiFetch(`/projects/${project.id}/stats`),
    apiFetch(`/projects/${project.id}/quality`),
  ]);
  card.append(stats.status === 'fulfilled' ? statsList(stats.value)
    : el('p', { class: 'notice error' }, `Stats unavailable: ${describeError(stats.reason)}`));
  card.append(quality.status === 'fulfilled' ? qualitySummary(quality.value)
    : el('p', { class: 'notice error', 'data-testid': 'quality-error' }, `Quality summary unavailable: ${describeError(quality.reason)}`));
  return card;
}

function statsList(stats) {
  const facts = [
    ['Tasks complete', `${stats.tasks_complete} / ${stats.tasks}`, 'tasks_complete'],
    ['Gold tasks', stats.gold_tasks, 'gold_tasks'],
    ['Submissions', stats.submissions, 'submissions'],
    ['Accepted / rejected / pending', `${stats.accepted} / ${stats.rejected} / ${stats.pending}`, 'accepted'],
    ['Awaiting review', stats.awaiting_review, 'awaiting_review'],
    ['In epochs', stats.in_epochs, 'in_epochs'],
    ['Annotators', stats.annotators, 'annotators'],
    ['Acceptance rate', percent(stats.acceptance_rate), 'acceptance_rate'],
  ];
  return el('dl', { class: 'stats', 'data-testid': 'project-stats', dataset: {
    tasks: String(stats.tasks), tasksComplete: String(stats.tasks_complete), submissions: String(stats.submissions),
    accepted: String(stats.accepted), annotators: String(stats.annotators) } },
  facts.map(([name, value, key]) => el('div', {}, el('dt', {}, name), el('dd', { 'data-stat': key }, String(value)))));
}

function qualitySummary(quality) {
  return el('div', { 'data-testid': 'project-quality' },
    el('p', {}, `Verified tasks: ${quality.verified_tasks} · mean confidence ${quality.mean_confidence == null ? '–' : quality.mean_confidence.toFixed(3)}`
      + ` · low-confidence tasks: ${quality.low_confidence_tasks}`),
    el('table', { class: 'grid', 'data-testid': 'quality-table' },
      el('thead', {}, el('tr', {}, ['Annotator', 'Submissions', 'Accepted', 'Rejected', 'Pending', 'Acceptance', 'Gold correct', 'Skill']
        .map((name) => el('th', { scope: 'col' }, name)))),
      el('tbody', {}, quality.annotators.length ? quality.annotators.map((a) => el('tr',
        { 'data-testid': 'quality-row', dataset: { address: a.address, submissions: String(a.submissions), accepted: String(a.accepted) } },
        el('td', {}, el('code', { title: a.address }, shortHex(a.address))),
        el('td', {}, String(a.submissions)),
        el('td', {}, String(a.accepted)),
        el('td', {}, String(a.rejected)),
        el('td', {}, String(a.pending)),
        el('td', {}, percent(a.acceptance_rate)),
        el('td', {}, `${a.gold_correct} / ${a.gold_answered}`),
        el('td', {}, a.skill == null ? '–' : a.skill.toFixed(3)),
      )) : el('tr', {}, el('td', { colspan: '8', class: 'hint' }, 'No annotator yet.')))));
}
