// Sign-In with Ethereum (EIP-4361): the wallet signs a message naming this site, the chain and a
// single-use nonce from the API; the API answers with a bearer token kept for this tab only.

import { getAddress } from 'viem';
import { createSiweMessage } from 'viem/siwe';
import { apiFetch, setBearerToken } from './api.js';
import { state, update } from './state.js';
import { walletClient } from './wallets.js';

const STORAGE_KEY = 'labelshare.session';
export const STATEMENT = 'Sign in to LabelShare';

/** Why signing in cannot work from this page, or null. The message's domain must be the one the
 * service expects, and a wallet shows the user the site it is really on. */
export function signInBlocker() {
  if (state.chain && state.chain.siwe_domain !== window.location.host) {
    return `This page is open at ${window.location.host}, but the service signs in only for ` +
      `${state.chain.siwe_domain}: open ${window.location.protocol}//${state.chain.siwe_domain}/app/ instead.`;
  }
  return null;
}

export async function signIn() {
  const blocker = signInBlocker();
  if (blocker) throw new Error(blocker);
  const address = getAddress(state.wallet.address);
  const { nonce } = await apiFetch('/auth/nonce');
  const message = createSiweMessage({
    domain: window.location.host,
    address,
    statement: STATEMENT,
    uri: window.location.origin,
    version: '1',
    chainId: state.chain.chain_id, // the service's chain: the API refuses any other
    nonce,
    issuedAt: new Date(),
  });
  const signature = await walletClient().signMessage({ account: address, message }); // personal_sign
  const session = await apiFetch('/auth/verify', { method: 'POST', body: { message, signature } });
  saveSession(session);
  return session;
}

function saveSession(session) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  setBearerToken(session.token);
  update({ session });
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  setBearerToken(null);
  update({ session: null });
}

/** The session of an earlier sign-in in this tab, if it has not expired. */
export function restoreSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
    if (session?.token && new Date(session.expires_at) > new Date()) {
      saveSession(session);
      return session;
    }
  } catch {
    // unreadable storage: sign in again
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

/** True when the session belongs to the connected wallet's account. */
export function sessionMatchesWallet() {
  return Boolean(state.session && state.wallet &&
    state.session.address.toLowerCase() === state.wallet.address.toLowerCase());
}
