// A label submission: the payload's RFC 8785 canonical JSON is hashed (keccak256) into labelHash,
// the wallet signs the EIP-712 Submission with eth_signTypedData_v4, and the API checks both.

import canonicalize from 'canonicalize';
import { getAddress, keccak256, stringToBytes } from 'viem';
import { apiFetch } from './api.js';
import { state } from './state.js';
import { walletClient } from './wallets.js';

export function labelHash(payload) {
  return keccak256(stringToBytes(canonicalize(payload)));
}

// A random 53-bit nonce: a plain JSON number that is exact in JavaScript and in Python.
function randomNonce() {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high & 0x1fffff) * 2 ** 32 + low;
}

/** Signs `payload` for `offer` (a GET /tasks/next answer) and posts it; returns the submission. */
export async function signAndSubmit(offer, payload) {
  const annotator = getAddress(state.wallet.address);
  const hash = labelHash(payload);
  const nonce = randomNonce();
  const deadline = Math.floor(Date.now() / 1000) + 600;
  const { EIP712Domain, ...types } = offer.eip712_types; // viem derives EIP712Domain from the domain
  const domain = offer.eip712_domain;
  const signature = await walletClient().signTypedData({
    account: annotator,
    domain,
    types,
    primaryType: 'Submission',
    message: {
      annotator,
      projectId: BigInt(offer.project_id),
      taskId: offer.task_id,
      labelHash: hash,
      nonce: BigInt(nonce),
      deadline: BigInt(deadline),
    },
  });
  return apiFetch('/submissions', {
    method: 'POST',
    body: {
      project_id: offer.project_id,
      task_id: offer.task_id,
      payload,
      label_hash: hash,
      nonce,
      deadline,
      chain_id: domain.chainId,
      verifying_contract: domain.verifyingContract,
      signature,
    },
  });
}
