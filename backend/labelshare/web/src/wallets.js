// Wallet discovery (EIP-6963, with window.ethereum as a fallback) and connection (EIP-1193).

import { createWalletClient, custom, numberToHex } from 'viem';
import { state, update } from './state.js';

const discovered = new Map(); // uuid -> {info, provider}

/**
 * Listens for wallets announcing themselves and asks them to announce; calls onChange with the
 * current list every time one appears. Wallets that only inject window.ethereum (no EIP-6963)
 * are offered as "Browser wallet" once the announcements have had a moment to arrive.
 */
export function discoverWallets(onChange) {
  window.addEventListener('eip6963:announceProvider', (event) => {
    const { info, provider } = event.detail || {};
    if (!info?.uuid || !provider?.request) return;
    discovered.set(info.uuid, { info, provider });
    onChange(listWallets());
  });
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  setTimeout(() => onChange(listWallets()), 300);
}

export function listWallets() {
  const wallets = [...discovered.values()];
  const injected = window.ethereum;
  if (injected?.request && !wallets.some((w) => w.provider === injected)) {
    wallets.push({ info: { uuid: 'injected', name: 'Browser wallet', icon: '', rdns: 'injected' }, provider: injected });
  }
  return wallets;
}

function parseChainId(value) {
  return typeof value === 'number' ? value : Number.parseInt(value, 16);
}

/** Asks the wallet for its account, then follows account and chain changes. */
export async function connectWallet(wallet) {
  const { provider } = wallet;
  const accounts = await provider.request({ method: 'eth_requestAccounts' });
  if (!accounts?.length) throw new Error('the wallet shared no account');
  const chainId = parseChainId(await provider.request({ method: 'eth_chainId' }));
  if (!wallet.listening && typeof provider.on === 'function') {
    wallet.listening = true;
    provider.on('accountsChanged', (next) => {
      if (state.wallet?.provider !== provider) return;
      if (!next?.length) update({ wallet: null });
      else update({ wallet: { ...state.wallet, address: next[0] } });
    });
    provider.on('chainChanged', (next) => {
      if (state.wallet?.provider === provider) update({ wallet: { ...state.wallet, chainId: parseChainId(next) } });
    });
  }
  update({ wallet: { info: wallet.info, provider, address: accounts[0], chainId } });
  return state.wallet;
}

/** Asks the wallet to move to the service's chain; wallets may refuse or not know the chain. */
export async function switchToServiceChain() {
  const { wallet, chain } = state;
  await wallet.provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: numberToHex(chain.chain_id) }] });
  const chainId = parseChainId(await wallet.provider.request({ method: 'eth_chainId' }));
  update({ wallet: { ...state.wallet, chainId } });
}

/** A viem wallet client over the connected wallet: it signs, the wallet holds the key. */
export function walletClient() {
  if (!state.wallet) throw new Error('connect a wallet first');
  return createWalletClient({ account: state.wallet.address, transport: custom(state.wallet.provider) });
}
