// What the views share: the service's chain description, the connected wallet and the session.
// Views subscribe to 'change' and re-render the parts they show.

export const state = {
  chain: null, // GET /chain
  abis: null, // GET /chain/abi
  wallet: null, // {info, provider, address, chainId}
  session: null, // {token, address, expires_at, requester}
};

const events = new EventTarget();

export function update(changes) {
  Object.assign(state, changes);
  events.dispatchEvent(new CustomEvent('change', { detail: Object.keys(changes) }));
}

/** Calls listener(keys) whenever any of `keys` change. */
export function subscribe(keys, listener) {
  events.addEventListener('change', (event) => {
    if (event.detail.some((key) => keys.includes(key))) listener(event.detail);
  });
}

/** True when the wallet is on the chain the service runs on. */
export function walletOnServiceChain() {
  return Boolean(state.wallet && state.chain && state.wallet.chainId === state.chain.chain_id);
}
