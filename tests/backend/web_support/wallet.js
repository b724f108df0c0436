// The browser wallet's stand-in for the web page test (injected before the page's own scripts).
// It is an EIP-1193 provider that announces itself over EIP-6963, like a real extension wallet,
// and forwards JSON-RPC to the test's anvil. Signatures are real: anvil holds the development
// account's key and signs personal_sign and eth_signTypedData_v4 with it; for an account anvil
// does not hold, personal_sign is done in Python with that account's key (window.labelshareTestSign).
// Transactions (eth_sendTransaction) are sent by anvil from its unlocked development account.
// Like a user switching networks in a real wallet, a test can move the wallet to another chain id
// with window.labelshareTestWallet.moveToChain(id) (the stand-in then sends nothing) and back with
// wallet_switchEthereumChain, as the page's "Switch network" asks.
// The test prepends `const WALLET = {rpcUrl, address, name, rdns, signer: "anvil" | "python"};`.
(() => {
  let nextId = 1;
  const listeners = {};
  let otherChainId = null; // set while the "user" has moved the wallet to another chain
  const emit = (event, value) => (listeners[event] ?? []).forEach((listener) => listener(value));

  async function rpc(method, params) {
    const response = await fetch(WALLET.rpcUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: params ?? [] }),
    });
    const reply = await response.json();
    if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code, data: reply.error.data });
    return reply.result;
  }

  const provider = {
    isLabelShareTestWallet: true,
    async request({ method, params }) {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [WALLET.address];
        case 'eth_chainId':
          return otherChainId ?? rpc(method, params);
        case 'wallet_switchEthereumChain': {
          const current = await rpc('eth_chainId', []);
          if (BigInt(params[0].chainId) !== BigInt(current)) throw Object.assign(new Error('Unrecognized chain'), { code: 4902 });
          if (otherChainId !== null) { otherChainId = null; emit('chainChanged', current); }
          return null;
        }
        case 'eth_sendTransaction':
          if (otherChainId !== null) throw Object.assign(new Error(`the test wallet is on chain ${BigInt(otherChainId)}, which it cannot reach`), { code: 4901 });
          if (WALLET.signer === 'python') throw Object.assign(new Error('this stand-in sends transactions through anvil only'), { code: 4200 });
          return rpc(method, params); // anvil signs with the unlocked account named in params[0].from
        case 'personal_sign':
          if (WALLET.signer === 'python') return window.labelshareTestSign(params[0], params[1]);
          return rpc(method, params);
        case 'eth_signTypedData_v4':
          if (WALLET.signer === 'python') throw Object.assign(new Error('this stand-in signs typed data through anvil only'), { code: 4200 });
          return rpc(method, params);
        default:
          return rpc(method, params);
      }
    },
    on(event, listener) { (listeners[event] ??= []).push(listener); return provider; },
    removeListener(event, listener) { listeners[event] = (listeners[event] ?? []).filter((l) => l !== listener); return provider; },
  };

  const info = Object.freeze({
    uuid: crypto.randomUUID(),
    name: WALLET.name,
    rdns: WALLET.rdns,
    icon: 'data:image/svg+xml;base64,' + btoa('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="5" fill="#e4572e"/><text x="12" y="17" font-size="13" text-anchor="middle" fill="#fff">T</text></svg>'),
  });
  // The test's stand-in for a user switching the wallet to another network.
  window.labelshareTestWallet = Object.freeze({
    moveToChain(chainId) { otherChainId = `0x${BigInt(chainId).toString(16)}`; emit('chainChanged', otherChainId); },
  });

  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();
