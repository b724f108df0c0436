// Licences: a project's dataset versions, prices and revenue (public: anyone can check the split),
// buying a licence to a version through the wallet (ETH, or an ERC-20 approved first), downloading
// the licensed labels, and — signed in — the wallet's share of licence revenue, claimed per version
// and currency. Prices are read from the contract before paying; every transaction is the wallet's.

import { getAddress, parseEventLogs, zeroAddress } from 'viem';
import { apiBlob, apiFetch } from '../api.js';
import { chainReader, formatToken } from '../chainReads.js';
import { $, describeError, el, shortHex, showNotice } from '../dom.js';
import { sessionMatchesWallet } from '../signIn.js';
import { state } from '../state.js';
import { assertWalletOnServiceChain, describeChainError, formatAmount, sendContractTx, withErrorsOf } from '../transactions.js';

const ETH = { currency: zeroAddress, symbol: 'ETH', decimals: 18 };

let revenue = null; // GET /projects/{id}/revenue of the project shown
let revenueRequests = 0; // only the latest request's answer is shown
let revenueRenders = 0;
let myRevenueRequests = 0;
const currencies = new Map(); // lower-case address -> {currency, symbol, decimals}
const projectNames = new Map(); // id -> name, of the open projects listed
let busy = false; // a transaction of this view is with the wallet or on its way: one at a time

function refuseWhileBusy(notice) {
  if (busy) showNotice(notice, 'Another transaction from this page is still on its way: wait for it to finish.');
  return busy;
}

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
const isEth = (currency) => BigInt(currency) === 0n;
const percent = (bps) => `${(bps / 100).toFixed(2)}%`;

function licencesContract() {
  // The ERC-20's and the ledger's errors too: SafeERC20 bubbles a token's revert up unchanged.
  return { address: state.chain.licences, abi: withErrorsOf(state.abis.licences, state.abis.token, state.abis.ledger) };
}

function rememberCurrency(meta) {
  currencies.set(meta.currency.toLowerCase(), { currency: meta.currency, symbol: meta.symbol, decimals: meta.decimals });
}

function currencyOf(address) {
  return currencies.get(String(address).toLowerCase()) ?? (isEth(address) ? ETH : { currency: address, symbol: address, decimals: 0 });
}

const amount = (value, currency) => formatAmount(value, currencyOf(currency));

/** Reads the symbol and decimals of ERC-20 currencies this page has not met yet from the chain
 * (an amount in an unknown currency is shown in its smallest unit, named by its address). */
async function learnCurrencies(addresses) {
  const reader = chainReader();
  const unknown = [...new Set(addresses.map((a) => a.toLowerCase()))].filter((a) => !currencies.has(a) && !isEth(a));
  if (!reader || !unknown.length) return;
  await Promise.all(unknown.map(async (address) => {
    const token = { address: getAddress(address), abi: state.abis.token };
    try {
      const [symbol, decimals] = await Promise.all([reader.client.readContract({ ...token, functionName: 'symbol' }),
        reader.client.readContract({ ...token, functionName: 'decimals' })]);
      rememberCurrency({ currency: token.address, symbol, decimals: Number(decimals) });
    } catch {
      // not a readable ERC-20: keep the raw amount
    }
  }));
}

// ---------------------------------------------------------------- project and its revenue

export async function loadLicenceProjects() {
  const select = $('licence-project-select');
  const previous = select.value;
  const projects = await apiFetch('/projects');
  for (const p of projects) projectNames.set(p.id, p.name);
  select.replaceChildren(el('option', { value: '' }, projects.length ? 'Choose a project…' : 'No open project'),
    ...projects.map((p) => el('option', { value: String(p.id) }, `#${p.id} ${p.name}`)));
  if (projects.some((p) => String(p.id) === previous)) select.value = previous;
  return projects;
}

function shownProjectId() {
  return revenue ? revenue.project_id : null;
}

async function showProject(projectId) {
  showNotice($('licences-error'), '');
  if (!state.chain.licences || !state.abis.licences) {
    showNotice($('licences-error'), 'This deployment has no licences contract.');
    return;
  }
  if (!Number.isInteger(projectId) || projectId < 1) {
    showNotice($('licences-error'), 'Enter a project id (a whole number from 1).');
    return;
  }
  if (projectId !== shownProjectId()) $('buy-result').hidden = true;
  $('licence-project-id').value = String(projectId);
  const request = ++revenueRequests;
  let answer;
  try {
    answer = await apiFetch(`/projects/${projectId}/revenue`);
  } catch (err) {
    if (request !== revenueRequests) return;
    revenue = null;
    $('licence-project').hidden = true;
    showNotice($('licences-error'), describeError(err));
    return;
  }
  if (request !== revenueRequests) return; // a later request is on its way
  revenue = answer;
  for (const price of revenue.prices) rememberCurrency(price);
  for (const version of revenue.versions) version.pools.forEach(rememberCurrency);
  renderRevenue();
}

function refreshShownProject() {
  const id = shownProjectId();
  return id ? showProject(id) : Promise.resolve();
}

function renderRevenue() {
  const r = revenue;
  $('licence-project').hidden = false;
  $('licence-project').dataset.projectId = String(r.project_id);
  $('licence-project').dataset.renders = String(++revenueRenders); // lets a test wait for a fresh answer
  $('licence-project-title').textContent = `Project #${r.project_id}` + (projectNames.has(r.project_id) ? ` ${projectNames.get(r.project_id)}` : '');
  const terms = $('licence-terms');
  terms.dataset.feeBps = String(r.fee_bps);
  terms.dataset.requesterShareBps = String(r.requester_share_bps);
  const contributorsBps = 10_000 - r.fee_bps - r.requester_share_bps;
  terms.replaceChildren(
    el('p', {}, `Each sale is split: protocol fee ${percent(r.fee_bps)}, the requester ${percent(r.requester_share_bps)}, `,
      `the annotators ${percent(contributorsBps)} (pro rata to their settled rewards in the version).`),
    el('p', {}, 'Price of a licence: ', r.prices.length
      ? r.prices.flatMap((p, i) => [i ? ', ' : '', el('strong', { 'data-testid': 'licence-price', dataset: { currency: p.currency, price: p.price } },
        formatAmount(p.price, p))])
      : el('span', { 'data-testid': 'licence-price-none' }, 'not for sale (the project has no price yet).')));

  $('licence-versions-body').replaceChildren(...(r.versions.length ? r.versions.flatMap(versionRows)
    : [el('tr', {}, el('td', { colspan: '9', class: 'hint' }, 'No dataset version published yet.'))]));

  $('licence-sales-body').replaceChildren(...(r.sales.length ? r.sales.map((s) => el('tr',
    { 'data-testid': 'licence-sale', dataset: { licenceId: String(s.licence_id), versionId: String(s.version_id), buyer: s.buyer,
      currency: s.currency, price: s.price, txHash: s.tx_hash } },
    el('td', {}, String(s.licence_id)),
    el('td', {}, String(s.version_id)),
    el('td', {}, el('code', { title: s.buyer }, shortHex(s.buyer))),
    el('td', {}, amount(s.price, s.currency)),
    el('td', {}, amount(s.fee, s.currency)),
    el('td', {}, amount(s.requester_amount, s.currency)),
    el('td', {}, amount(s.contributors_amount, s.currency)),
    el('td', {}, el('code', { title: s.tx_hash }, s.tx_hash)),
  )) : [el('tr', {}, el('td', { colspan: '8', class: 'hint' }, 'No licence sold yet.'))]));

  // Buying: a version and a currency the project is priced in.
  const forSale = r.versions.length > 0 && r.prices.length > 0;
  $('buy-form').hidden = !forSale;
  $('buy-unavailable').hidden = forSale;
  $('buy-unavailable').textContent = r.versions.length ? 'The project has no price: no licence can be bought yet.'
    : 'A licence can be bought once the project has published a dataset version.';
  const versionSelect = $('buy-version');
  const previousVersion = versionSelect.value;
  versionSelect.replaceChildren(...[...r.versions].reverse().map((v) => el('option', { value: String(v.version_id) },
    `Version ${v.version_id} (epochs ${v.from_epoch}–${v.to_epoch}, ${v.contributors} contributor(s))`)));
  if (r.versions.some((v) => String(v.version_id) === previousVersion)) versionSelect.value = previousVersion;
  const currencySelect = $('buy-currency');
  const previousCurrency = currencySelect.value;
  currencySelect.replaceChildren(...r.prices.map((p) => el('option', { value: p.currency, dataset: { price: p.price } },
    `${p.symbol}: ${formatAmount(p.price, p)}`)));
  if (r.prices.some((p) => p.currency === previousCurrency)) currencySelect.value = previousCurrency;
}

function versionRows(v) {
  const cells = [
    el('td', {}, String(v.version_id)),
    el('td', {}, `${v.from_epoch}–${v.to_epoch}`),
    el('td', {}, String(v.contributors)),
    el('td', {}, formatToken(v.total_shares)),
  ];
  if (!v.pools.length) {
    return [el('tr', { 'data-testid': 'revenue-version', dataset: { versionId: String(v.version_id) } },
      ...cells, el('td', { colspan: '5', class: 'hint' }, 'No sale yet.'))];
  }
  return v.pools.map((p) => el('tr', { 'data-testid': 'revenue-pool', dataset: { versionId: String(v.version_id),
    currency: p.currency, contributed: p.contributed, claimed: p.claimed, claimable: p.claimable, dust: p.dust } },
  ...cells.map((cell) => cell.cloneNode(true)),
  el('td', {}, p.symbol),
  el('td', { 'data-field': 'contributed' }, formatAmount(p.contributed, p)),
  el('td', { 'data-field': 'claimed' }, formatAmount(p.claimed, p)),
  el('td', { 'data-field': 'claimable' }, formatAmount(p.claimable, p)),
  el('td', { 'data-field': 'dust' }, formatAmount(p.dust, p))));
}

// ---------------------------------------------------------------- buying

function setBuyStatus(message) {
  $('buy-status').textContent = message;
  $('buy-status').hidden = !message;
}

async function buyLicence(event) {
  event.preventDefault();
  if (!revenue || refuseWhileBusy($('buy-error'))) return;
  showNotice($('buy-error'), '');
  $('buy-result').hidden = true;
  const versionId = BigInt($('buy-version').value);
  const currency = getAddress($('buy-currency').value);
  const meta = currencyOf(currency);
  const shownPrice = BigInt(revenue.prices.find((p) => same(p.currency, currency))?.price ?? 0);
  busy = true;
  $('buy-licence').disabled = true;
  try {
    assertWalletOnServiceChain();
    const buyer = getAddress(state.wallet.address);
    const licences = licencesContract();
    const { client } = chainReader(); // through the wallet: it is on the service chain
    setBuyStatus('Reading the price on-chain…');
    const version = await client.readContract({ ...licences, functionName: 'version', args: [versionId] });
    const price = await client.readContract({ ...licences, functionName: 'price', args: [version.projectId, currency] });
    if (price === 0n) throw new Error(`Project ${version.projectId} is no longer for sale in ${meta.symbol}.`);
    if (price !== shownPrice) {
      await refreshShownProject();
      throw new Error(`The price changed: it is now ${formatAmount(price, meta)} (this page showed ` +
        `${formatAmount(shownPrice, meta)}). Check it and buy again.`);
    }
    if (!isEth(currency)) {
      const token = { address: currency, abi: state.abis.token };
      const [balance, allowance] = await Promise.all([
        client.readContract({ ...token, functionName: 'balanceOf', args: [buyer] }),
        client.readContract({ ...token, functionName: 'allowance', args: [buyer, licences.address] }),
      ]);
      if (balance < price) {
        throw new Error(`Your ${meta.symbol} balance (${formatAmount(balance, meta)}) is below the price (${formatAmount(price, meta)}).`);
      }
      if (allowance < price) {
        setBuyStatus(`Approve ${formatAmount(price, meta)} for the licences contract in your wallet…`);
        await sendContractTx({ ...token, functionName: 'approve', args: [licences.address, price],
          onSent: (hash) => setBuyStatus(`Waiting for the approval ${hash}…`) });
      }
    }
    setBuyStatus(`Confirm the purchase (${formatAmount(price, meta)}) in your wallet…`);
    const receipt = await sendContractTx({ ...licences, functionName: 'buyLicence', args: [versionId, currency, price],
      value: isEth(currency) ? price : 0n, onSent: (hash) => setBuyStatus(`Waiting for transaction ${hash}…`) });
    const [bought] = parseEventLogs({ abi: licences.abi, eventName: 'LicencePurchased', logs: receipt.logs });
    showPurchase({ licenceId: bought.args.licenceId, versionId, projectId: version.projectId, price, currency,
      txHash: receipt.transactionHash });
  } catch (err) {
    showNotice($('buy-error'), `No licence bought: ${describeChainError(err)}`);
    return;
  } finally {
    setBuyStatus('');
    busy = false;
    $('buy-licence').disabled = false;
  }
  // The sale is in the project's revenue and in the buyer's licences now.
  await Promise.all([refreshShownProject(),
    state.session && refreshMyRevenue().catch((err) => showNotice($('my-revenue-error'), describeError(err)))]);
}

function showPurchase({ licenceId, versionId, projectId, price, currency, txHash }) {
  const box = $('buy-result');
  Object.assign(box.dataset, { licenceId: String(licenceId), versionId: String(versionId), projectId: String(projectId),
    txHash });
  box.replaceChildren(
    el('p', {}, el('strong', { 'data-testid': 'bought-licence-id' }, `Licence #${licenceId}`),
      ` to version ${versionId} of project #${projectId}, paid ${amount(price, currency)}.`),
    el('p', { class: 'hint' }, 'Transaction ', el('code', { 'data-testid': 'bought-tx-hash' }, txHash)),
    downloadButton(Number(projectId), Number(versionId), 'download-licensed'));
  box.hidden = false;
}

function downloadButton(projectId, versionId, testId) {
  const notice = el('p', { class: 'notice error', role: 'alert', hidden: true });
  const button = el('button', { type: 'button', 'data-testid': testId, onclick: () => {
    showNotice(notice, '');
    if (!sessionMatchesWallet()) {
      showNotice(notice, 'Sign in with the wallet that holds the licence to download its labels.');
      return;
    }
    download(projectId, versionId).catch((err) => showNotice(notice, `Download failed: ${describeError(err)}`));
  } }, 'Download licensed labels');
  return el('div', {}, button, notice);
}

/** The version's verified labels (JSONL), as the licence holder: GET /projects/{id}/export?version=. */
async function download(projectId, versionId) {
  const blob = await apiBlob(`/projects/${projectId}/export?format=jsonl&version=${versionId}`);
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: `labelshare-project-${projectId}-version-${versionId}.jsonl`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---------------------------------------------------------------- my revenue and licences

export async function refreshMyRevenue() {
  showNotice($('my-revenue-error'), '');
  if (!state.session || !state.chain?.licences) return;
  const request = ++myRevenueRequests;
  const [rows, licences] = await Promise.all([apiFetch('/me/revenue'), apiFetch('/me/licences')]);
  rows.forEach(rememberCurrency);
  await learnCurrencies(licences.map((l) => l.currency));
  if (request !== myRevenueRequests || !state.session) return; // a later answer, or signed out meanwhile
  $('my-revenue-body').replaceChildren(...(rows.length ? rows.map(revenueRow)
    : [el('tr', {}, el('td', { colspan: '7', class: 'hint' }, 'No share in any licence revenue yet.'))]));
  $('my-licences-body').replaceChildren(...(licences.length ? licences.map((l) => el('tr',
    { 'data-testid': 'my-licence', dataset: { licenceId: String(l.licence_id), versionId: String(l.version_id) } },
    el('td', {}, String(l.licence_id)),
    el('td', {}, String(l.project_id)),
    el('td', {}, String(l.version_id)),
    el('td', {}, amount(l.price, l.currency)),
    el('td', {}, el('code', { title: l.tx_hash }, l.tx_hash)),
    el('td', {}, downloadButton(l.project_id, l.version_id, 'download-my-licence')),
  )) : [el('tr', {}, el('td', { colspan: '6', class: 'hint' }, 'You hold no licence.'))]));
}

function revenueRow(r) {
  const claimable = BigInt(r.claimable);
  const share = BigInt(r.total_shares) ? Number((BigInt(r.shares) * 1_000_000n) / BigInt(r.total_shares)) / 10_000 : 0;
  const button = el('button', { type: 'button', 'data-testid': 'claim-revenue', disabled: claimable === 0n }, 'Claim');
  button.addEventListener('click', () => claim(r, button));
  return el('tr', { 'data-testid': 'my-revenue-row', dataset: { versionId: String(r.version_id), projectId: String(r.project_id),
    currency: r.currency, shares: r.shares, claimed: r.claimed, claimable: r.claimable } },
  el('td', {}, String(r.project_id)),
  el('td', {}, String(r.version_id)),
  el('td', {}, r.symbol),
  el('td', {}, `${formatToken(r.shares)} of ${formatToken(r.total_shares)} (${share.toFixed(2)}%)`),
  el('td', { 'data-field': 'claimed' }, formatAmount(r.claimed, r)),
  el('td', { 'data-field': 'claimable' }, formatAmount(r.claimable, r)),
  el('td', {}, button));
}

async function claim(row, button) {
  showNotice($('my-revenue-error'), '');
  if (refuseWhileBusy($('my-revenue-error'))) return;
  busy = true;
  button.disabled = true;
  $('claim-result').hidden = true;
  try {
    const licences = licencesContract();
    // Anyone may send a claim; the revenue always goes to the annotator named in it: this session's.
    const receipt = await sendContractTx({ ...licences, functionName: 'claim',
      args: [BigInt(row.version_id), getAddress(row.currency), getAddress(state.session.address), BigInt(row.shares), row.proof] });
    const [claimed] = parseEventLogs({ abi: licences.abi, eventName: 'RevenueClaimed', logs: receipt.logs });
    const result = $('claim-result');
    Object.assign(result.dataset, { versionId: String(row.version_id), currency: row.currency, amount: claimed.args.amount.toString(),
      txHash: receipt.transactionHash });
    result.replaceChildren(`Claimed ${formatAmount(claimed.args.amount, row)} of version ${row.version_id}'s revenue · transaction `,
      el('code', {}, receipt.transactionHash));
    result.hidden = false;
  } catch (err) {
    showNotice($('my-revenue-error'), `Nothing claimed: ${describeChainError(err)}`);
    button.disabled = BigInt(row.claimable) === 0n;
    return;
  } finally {
    busy = false;
  }
  // Claimed goes up and claimable to 0, here and in the project's pools.
  await Promise.all([refreshMyRevenue().catch((err) => showNotice($('my-revenue-error'), describeError(err))),
    shownProjectId() === row.project_id && refreshShownProject()]);
}

export function resetMyRevenue() {
  myRevenueRequests += 1; // an answer on its way belongs to the session that ended
  $('my-revenue-body').replaceChildren();
  $('my-licences-body').replaceChildren();
  $('claim-result').hidden = true;
  showNotice($('my-revenue-error'), '');
}

// ---------------------------------------------------------------- wiring

export function refreshLicences() {
  const done = [loadLicenceProjects().catch((err) => showNotice($('licences-error'), describeError(err)))];
  if (shownProjectId()) done.push(refreshShownProject());
  if (state.session) done.push(refreshMyRevenue().catch((err) => showNotice($('my-revenue-error'), describeError(err))));
  return Promise.all(done);
}

export function initLicences() {
  $('licence-project-select').addEventListener('change', () => {
    const id = Number($('licence-project-select').value);
    if (id) showProject(id);
  });
  $('licence-project-form').addEventListener('submit', (event) => {
    event.preventDefault();
    showProject(Number($('licence-project-id').value));
  });
  $('buy-form').addEventListener('submit', (event) => buyLicence(event));
  $('refresh-my-revenue').addEventListener('click', () => refreshMyRevenue()
    .catch((err) => showNotice($('my-revenue-error'), describeError(err))));
}
