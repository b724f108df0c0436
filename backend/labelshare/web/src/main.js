// LabelShare page: wallet connection and sign-in at the top, then five views (annotate, my work,
// my projects, licences, audit). Everything it talks to is the same-origin API and the chain.

import { apiFetch, onUnauthorised, setBearerToken } from './api.js';
import { loadTokenMeta } from './chainReads.js';
import { $, describeError, el, showNotice } from './dom.js';
import { restoreSession, sessionMatchesWallet, signIn, signInBlocker, signOut } from './signIn.js';
import { state, subscribe, update, walletOnServiceChain } from './state.js';
import { initAnnotate, loadProjects, openProjects } from './views/annotate.js';
import { initAudit, loadEpochs } from './views/audit.js';
import { initLicences, refreshLicences, refreshMyRevenue, resetMyRevenue } from './views/licences.js';
import { initMyWork, refreshWork, resetMyWork } from './views/myWork.js';
import { ownedProjects, refreshRequester } from './views/requester.js';
import { connectWallet, discoverWallets, switchToServiceChain } from './wallets.js';

// ---------------------------------------------------------------- tabs

function showView(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.view === name;
    tab.setAttribute('aria-selected', String(selected));
    $(`view-${tab.dataset.view}`).hidden = !selected;
  }
  if (name === 'work') refreshWork();
  if (name === 'requester') refreshRequesterView();
  if (name === 'licences') refreshLicences();
  if (name === 'audit') loadEpochs().catch((err) => showNotice($('audit-source'), describeError(err)));
}

function refreshRequesterView() {
  return refreshRequester().catch((err) => showNotice($('requester-error'), describeError(err)));
}

// ---------------------------------------------------------------- wallet and session

function renderWalletList(wallets) {
  $('no-wallet').hidden = wallets.length > 0;
  $('wallet-list').replaceChildren(...wallets.map((wallet) => el('li', {},
    el('button', { type: 'button', 'data-testid': 'wallet-option', dataset: { rdns: wallet.info.rdns ?? '' },
      onclick: () => onConnect(wallet) },
    wallet.info.icon ? el('img', { src: wallet.info.icon, alt: '' }) : null,
    `Connect ${wallet.info.name}`))));
}

async function onConnect(wallet) {
  showNotice($('sign-in-error'), '');
  try {
    await connectWallet(wallet);
  } catch (err) {
    showNotice($('sign-in-error'), `Could not connect: ${describeError(err)}`);
    return;
  }
  if (!walletOnServiceChain()) {
    // Ask once; if the wallet refuses, the warning stays with a button to try again.
    await switchToServiceChain().catch(() => {});
  }
}

function renderAccount() {
  const { wallet, chain, session } = state;
  $('wallet-picker').hidden = Boolean(wallet);
  $('wallet-status').hidden = !wallet;
  $('session-box').hidden = !wallet;
  if (wallet) {
    $('wallet-name').textContent = wallet.info.name;
    $('wallet-address').textContent = wallet.address;
    $('wallet-chain').textContent = `${wallet.chainId}` + (chain && wallet.chainId === chain.chain_id ? ' (the service chain)' : '');
    $('wallet-chain').dataset.chainId = String(wallet.chainId);
  }
  const wrongChain = Boolean(wallet && chain && wallet.chainId !== chain.chain_id);
  $('chain-warning').hidden = !wrongChain;
  if (wrongChain) {
    $('chain-warning-text').textContent = `Your wallet is on chain ${wallet.chainId}, but LabelShare runs on chain ` +
      `${chain.chain_id}: switch networks to sign in and submit.`;
  }
  // Signed in here means: a session for the account the connected wallet signs with.
  const signedIn = sessionMatchesWallet();
  $('sign-in').hidden = signedIn;
  $('sign-in').disabled = wrongChain;
  $('session-status').hidden = !signedIn;
  if (session) {
    $('session-address').textContent = session.address;
    $('session-role').textContent = session.requester ? '(requester)' : '';
  }
  for (const node of document.querySelectorAll('.needs-session')) node.hidden = signedIn;
  for (const node of document.querySelectorAll('.needs-session-content')) node.hidden = !signedIn;
  $('tab-requester').hidden = !(signedIn && (session.requester || ownedProjects(openProjects()).length));
}

async function onSignIn() {
  showNotice($('sign-in-error'), '');
  $('sign-in').disabled = true;
  try {
    await signIn();
  } catch (err) {
    showNotice($('sign-in-error'), `Sign-in failed: ${describeError(err)}`);
  } finally {
    renderAccount(); // re-enables the button unless the wallet is on another chain
  }
}

function onSessionChange() {
  resetMyWork();
  resetMyRevenue();
  if (!state.session) return;
  loadProjects().then(renderAccount).catch((err) => showNotice($('task-error'), describeError(err)));
  if (!$('view-work').hidden) refreshWork();
  if (!$('view-licences').hidden) refreshMyRevenue().catch((err) => showNotice($('my-revenue-error'), describeError(err)));
}

// ---------------------------------------------------------------- boot

async function boot() {
  try {
    const [chain, abis] = await Promise.all([apiFetch('/chain'), apiFetch('/chain/abi')]);
    update({ chain, abis });
  } catch (err) {
    showNotice($('boot-error'), `The LabelShare service did not answer: ${describeError(err)}`);
    return;
  }
  const blocker = signInBlocker();
  if (blocker) showNotice($('boot-error'), blocker);

  subscribe(['wallet', 'chain', 'session'], renderAccount);
  subscribe(['session'], onSessionChange);
  subscribe(['wallet'], () => {
    // A session belongs to one address: if the wallet moves to another account, sign out.
    if (state.session && state.wallet && !sessionMatchesWallet()) signOut();
    loadTokenMeta();
  });
  onUnauthorised(() => {
    signOut();
    showNotice($('sign-in-error'), 'Your session expired: sign in again.');
  });

  $('sign-in').addEventListener('click', onSignIn);
  $('sign-out').addEventListener('click', signOut);
  $('switch-chain').addEventListener('click', () => switchToServiceChain()
    .catch((err) => showNotice($('sign-in-error'), `The wallet did not switch: ${describeError(err)}`)));
  $('refresh-requester').addEventListener('click', refreshRequesterView);
  for (const tab of document.querySelectorAll('[role="tab"]')) tab.addEventListener('click', () => showView(tab.dataset.view));
  initAnnotate();
  initMyWork();
  initLicences();
  initAudit();

  setBearerToken(null);
  restoreSession();
  renderAccount();
  discoverWallets(renderWalletList);
  await loadTokenMeta();
  document.body.dataset.ready = 'true'; // lets tests (and scripts) know the page is wired up
}

boot();
