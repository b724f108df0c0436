// Transactions the connected wallet sends (buying a licence, approving an ERC-20, claiming
// revenue): each is simulated first, so a revert is caught before the wallet asks and is named by
// the contract's custom error; then sent with eth_sendTransaction through the wallet (which holds
// the key) and followed to its receipt.

import {
  BaseError, ChainMismatchError, ContractFunctionRevertedError, UserRejectedRequestError, createPublicClient, custom,
  defineChain, formatUnits, getAddress,
} from 'viem';
import { describeError } from './dom.js';
import { state, walletOnServiceChain } from './state.js';
import { walletClient } from './wallets.js';

const POLL_MS = 500;

/** The service's chain as viem describes chains: the wallet must be on it to send. */
export function serviceChain() {
  const id = state.chain.chain_id;
  return defineChain({
    id,
    name: `LabelShare chain ${id}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: state.chain.rpc_url ? [state.chain.rpc_url] : [] } },
  });
}

export class WrongChainError extends Error {}

/** Throws a WrongChainError (with what to do) unless a wallet is connected on the service chain. */
export function assertWalletOnServiceChain() {
  if (!state.wallet) throw new Error('Connect a wallet first.');
  if (!walletOnServiceChain()) {
    throw new WrongChainError(`Your wallet is on chain ${state.wallet.chainId}, but LabelShare runs on chain ` +
      `${state.chain.chain_id}: switch networks (the button at the top) and try again.`);
  }
}

/** Every error declared in these ABIs, once: a revert inside a call (an ERC-20's, bubbled up by
 * SafeERC20) is decoded by name too. */
export function withErrorsOf(abi, ...others) {
  const seen = new Set(abi.filter((item) => item.type === 'error').map(errorKey));
  const extra = [];
  for (const item of others.flat()) {
    if (item?.type !== 'error' || seen.has(errorKey(item))) continue;
    seen.add(errorKey(item));
    extra.push(item);
  }
  return [...abi, ...extra];
}

function errorKey(item) {
  return `${item.name}(${(item.inputs ?? []).map((input) => input.type).join(',')})`;
}

/**
 * Simulates `functionName` from the wallet's account, sends it through the wallet and waits for
 * the receipt. `onSent(hash)` is called once the wallet has sent it. Returns the receipt; throws
 * when the simulation reverts, the wallet refuses, or the transaction fails on-chain.
 */
export async function sendContractTx({ address, abi, functionName, args, value, onSent }) {
  assertWalletOnServiceChain();
  const chain = serviceChain();
  const account = getAddress(state.wallet.address);
  const client = createPublicClient({ chain, transport: custom(state.wallet.provider), pollingInterval: POLL_MS });
  const { request } = await client.simulateContract({ address, abi, functionName, args, value, account });
  // `chain` makes viem ask the wallet for its chain id and refuse to send on another one.
  const hash = await walletClient().writeContract({ ...request, abi, chain });
  onSent?.(hash);
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: POLL_MS });
  if (receipt.status !== 'success') throw new Error(`Transaction ${hash} failed on-chain (status ${receipt.status}).`);
  return receipt;
}

function formatArg(value) {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(formatArg).join(', ')}]`;
  return String(value);
}

/** A message for the user: a revert by the contract's error name and arguments, a wrong chain, a
 * refusal in the wallet, else viem's short message or the API's detail. */
export function describeChainError(err) {
  if (err instanceof WrongChainError) return err.message;
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted?.data?.errorName) {
      const { errorName, args = [], abiItem } = reverted.data;
      const named = (abiItem?.inputs ?? []).map((input, i) => `${input.name || `arg${i}`}: ${formatArg(args[i])}`);
      return `The contract refused: ${errorName}(${named.join(', ')})`;
    }
    if (reverted?.reason) return `The contract refused: ${reverted.reason}`;
    if (reverted?.signature) return `The contract refused with an error this page does not know (selector ${reverted.signature}).`;
    if (err.walk((e) => e instanceof ChainMismatchError)) {
      return `Your wallet is not on LabelShare's chain (${state.chain.chain_id}): switch networks and try again.`;
    }
    if (err.walk((e) => e instanceof UserRejectedRequestError)) return 'You declined the request in your wallet.';
    return err.shortMessage || err.message;
  }
  return describeError(err);
}

/** "1.5 tUSD" from a smallest-unit amount and {symbol, decimals}. */
export function formatAmount(amount, { symbol, decimals }) {
  return `${formatUnits(BigInt(amount), decimals)} ${symbol}`;
}
