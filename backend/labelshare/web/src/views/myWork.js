// My work: the signed-in annotator's submissions, rewards per epoch with their transactions, and
// the token balance read from the chain (not from the API). Refreshes itself while anything is
// still on its way to being paid.

import { apiFetch } from '../api.js';
import { chainReader, formatToken, loadTokenMeta, tokenBalance } from '../chainReads.js';
import { $, describeError, el, shortHex, showNotice } from '../dom.js';
import { state } from '../state.js';

const POLL_MS = 3000;
let pollTimer = null;
let loading = null;

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
  $('work-polling').hidden = true;
}

/** Loads and shows everything; schedules the next load while work is not yet settled. */
export function refreshWork() {
  loading ??= load().finally(() => { loading = null; });
  return loading;
}

async function load() {
  stopPolling();
  const { session } = state;
  if (!session) return;
  showNotice($('work-error'), '');
  let submissions, rewards;
  try {
    [submissions, rewards] = await Promise.all([apiFetch('/me/submissions'), apiFetch('/me/rewards'), loadTokenMeta()]);
  } catch (err) {
    showNotice($('work-error'), describeError(err));
    return;
  }
  if (state.session?.address !== session.address) return; // signed out or in again meanwhile
  const settledEpochs = new Set(rewards.epochs.filter((e) => e.status === 'settled').map((e) => e.epoch_id));
  renderRewards(rewards);
  renderSubmissions(submissions, settledEpochs);
  await renderBalance(rewards.address);

  // Not final yet: awaiting review, or accepted but its epoch is not settled on-chain.
  const unsettled = submissions.filter((s) => s.status === 'pending' || (s.status === 'accepted' && !settledEpochs.has(s.epoch_id)));
  if (BigInt(rewards.pending) > 0n || unsettled.length) {
    $('work-polling').hidden = false;
    pollTimer = setTimeout(refreshWork, POLL_MS);
  }
}

function renderRewards(rewards) {
  const pending = $('rewards-pending');
  pending.textContent = `${formatToken(rewards.pending)} (${rewards.pending_annotations} annotation(s))`;
  pending.dataset.raw = rewards.pending;
  const settled = $('rewards-settled');
  settled.textContent = formatToken(rewards.settled);
  settled.dataset.raw = rewards.settled;
  $('epoch-rewards-body').replaceChildren(...(rewards.epochs.length ? rewards.epochs.map((e) => el('tr',
    { 'data-testid': 'epoch-reward-row', dataset: { epochId: String(e.epoch_id), status: e.status, amount: e.amount, txHashes: e.tx_hashes.join(',') } },
    el('td', {}, String(e.epoch_id)),
    el('td', {}, String(e.annotations)),
    el('td', {}, formatToken(e.amount)),
    el('td', { class: e.status === 'settled' ? 'ok' : '' }, e.status),
    el('td', {}, e.tx_hashes.length ? e.tx_hashes.map((hash) => el('div', {}, el('code', { title: hash }, hash))) : '–'),
  )) : [el('tr', {}, el('td', { colspan: '5', class: 'hint' }, 'No rewards yet.'))]));
}

function renderSubmissions(submissions, settledEpochs) {
  $('submissions-body').replaceChildren(...(submissions.length ? submissions.map((s) => el('tr',
    { 'data-testid': 'submission-row', dataset: { submissionId: String(s.id), status: s.status, reward: s.reward, epochId: s.epoch_id ?? '' } },
    el('td', {}, String(s.id)),
    el('td', {}, String(s.project_id)),
    el('td', {}, el('code', { title: s.task_id }, shortHex(s.task_id))),
    el('td', { class: `status-${s.status}` }, s.status, s.reason ? el('div', { class: 'hint' }, s.reason) : ''),
    el('td', {}, s.status === 'accepted' ? formatToken(s.reward) : '–'),
    el('td', {}, s.epoch_id == null ? '–' : `${s.epoch_id}${settledEpochs.has(s.epoch_id) ? ' (settled)' : ''}`),
    el('td', {}, new Date(s.created_at).toLocaleString()),
  )) : [el('tr', {}, el('td', { colspan: '7', class: 'hint' }, 'No submissions yet.'))]));
}

async function renderBalance(address) {
  const node = $('token-balance');
  const reader = chainReader();
  if (!reader) {
    node.textContent = 'unavailable: connect a wallet on the service chain';
    delete node.dataset.raw;
    return;
  }
  try {
    const balance = await tokenBalance(address);
    node.textContent = `${formatToken(balance)} (read through ${reader.source})`;
    node.dataset.raw = balance.toString();
  } catch (err) {
    node.textContent = `unavailable: ${describeError(err)}`;
    delete node.dataset.raw;
  }
}

export function initMyWork() {
  $('refresh-work').addEventListener('click', () => refreshWork());
}

export function resetMyWork() {
  stopPolling();
  for (const id of ['token-balance', 'rewards-pending', 'rewards-settled']) {
    $(id).textContent = '–';
    delete $(id).dataset.raw;
  }
  $('submissions-body').replaceChildren();
  $('epoch-rewards-body').replaceChildren();
}
