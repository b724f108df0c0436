// Reading the chain: through the connected wallet's provider when it is on the service's chain,
// otherwise through the RPC URL the service publishes (read-only). Contract ABIs come from
// GET /chain/abi, i.e. from the same build the service was deployed from.

import { createPublicClient, custom, formatUnits, http } from 'viem';
import { state, walletOnServiceChain } from './state.js';

/** {client, source} for reads, or null when there is no way to reach the chain. */
export function chainReader() {
  if (walletOnServiceChain()) {
    return { client: createPublicClient({ transport: custom(state.wallet.provider) }), source: `your wallet (${state.wallet.info.name})` };
  }
  if (state.chain?.rpc_url) {
    return { client: createPublicClient({ transport: http(state.chain.rpc_url) }), source: `the service's public RPC (${state.chain.rpc_url})` };
  }
  return null;
}

export function ledgerContract() {
  return { address: state.chain.ledger, abi: state.abis.ledger };
}

export function tokenContract() {
  return { address: state.chain.token, abi: state.abis.token };
}

// Rewards are 18-decimal token units; symbol and decimals are read once from the token itself.
let tokenMeta = { symbol: 'tokens', decimals: 18, read: false };

export async function loadTokenMeta() {
  const reader = chainReader();
  if (tokenMeta.read || !reader) return tokenMeta;
  try {
    const [symbol, decimals] = await Promise.all([
      reader.client.readContract({ ...tokenContract(), functionName: 'symbol' }),
      reader.client.readContract({ ...tokenContract(), functionName: 'decimals' }),
    ]);
    tokenMeta = { symbol, decimals: Number(decimals), read: true };
  } catch {
    // keep the defaults; amounts are still shown with 18 decimals
  }
  return tokenMeta;
}

/** "1.5 LST" from a smallest-unit amount (bigint or decimal string). */
export function formatToken(amount) {
  return `${formatUnits(BigInt(amount), tokenMeta.decimals)} ${tokenMeta.symbol}`;
}

export async function tokenBalance(address) {
  const reader = chainReader();
  if (!reader) throw new Error('no chain access: connect a wallet on the service chain');
  return reader.client.readContract({ ...tokenContract(), functionName: 'balanceOf', args: [address] });
}
