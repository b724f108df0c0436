// Audit: anyone can check an epoch without trusting the service. The page rebuilds the Merkle
// root from the published manifest's leaves (OpenZeppelin StandardMerkleTree, the construction
// the ledger verifies), then compares root and totals with what the ledger recorded and checks
// a sample of inclusion proofs both locally and with the ledger's verifyAnnotation.

import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { apiFetch } from '../api.js';
import { chainReader, formatToken, ledgerContract, loadTokenMeta } from '../chainReads.js';
import { $, describeError, el, showNotice } from '../dom.js';
import { state } from '../state.js';

// The leaf layout of LabelLedger.annotationLeaf: (epochId, annotator, projectId, taskId, labelHash, reward).
export const LEAF_TYPES = ['uint256', 'address', 'uint256', 'bytes32', 'bytes32', 'uint256'];
const PROOF_SAMPLE = 10;

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

export async function loadEpochs() {
  const select = $('epoch-select');
  const previous = select.value;
  const epochs = await apiFetch('/epochs');
  select.replaceChildren(...epochs.map((e) => el('option', { value: String(e.id) },
    `Epoch ${e.id} · ${e.status} · ${e.annotation_count} annotation(s) · ${formatToken(e.total_reward)}`)));
  if (!epochs.length) select.append(el('option', { value: '' }, 'No epoch yet'));
  if (epochs.some((e) => String(e.id) === previous)) select.value = previous;
  $('run-audit').disabled = !epochs.length;
  return epochs;
}

/** Up to PROOF_SAMPLE leaves: the connected account's first, then others at random. */
function proofSample(leaves) {
  const me = state.wallet?.address;
  const mine = leaves.filter((leaf) => me && same(leaf.annotator, me));
  const others = leaves.filter((leaf) => !mine.includes(leaf));
  for (let i = others.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [others[i], others[j]] = [others[j], others[i]];
  }
  return [...mine, ...others].slice(0, Math.max(PROOF_SAMPLE, mine.length));
}

function sumBy(items, key, amountOf) {
  const totals = new Map();
  for (const item of items) totals.set(key(item), (totals.get(key(item)) ?? 0n) + amountOf(item));
  return totals;
}

async function runAudit() {
  const epochId = Number($('epoch-select').value);
  if (!epochId) return;
  const checks = [];
  const check = (id, name, ok, detail) => checks.push({ id, name, ok, detail });
  $('audit-checks').replaceChildren();
  $('audit-verdict').hidden = true;
  $('run-audit').disabled = true;
  try {
    await loadTokenMeta();
    const manifest = await apiFetch(`/epochs/${epochId}/manifest`);
    const { leaves } = manifest;
    check('manifest-epoch', 'Manifest is for this epoch, chain and ledger',
      manifest.epoch_id === epochId && manifest.chain_id === state.chain.chain_id && same(manifest.ledger, state.chain.ledger),
      `epoch ${manifest.epoch_id}, chain ${manifest.chain_id}, ledger ${manifest.ledger}`);

    // 1. Rebuild the tree in this browser from the annotations themselves.
    const values = leaves.map((l) => [BigInt(manifest.epoch_id), l.annotator, BigInt(l.project_id), l.task_id, l.label_hash, BigInt(l.reward)]);
    const tree = StandardMerkleTree.of(values, LEAF_TYPES);
    const badLeaves = leaves.filter((l, i) => !same(tree.leafHash(values[i]), l.leaf));
    check('leaf-hashes', 'Every leaf hash matches its annotation', badLeaves.length === 0,
      badLeaves.length ? `${badLeaves.length} leaf hash(es) differ, e.g. submission ${badLeaves[0].submission_id}` : `${leaves.length} leaves`);
    check('root-manifest', 'Rebuilt root equals the manifest root', same(tree.root, manifest.root),
      `rebuilt ${tree.root}, manifest ${manifest.root}`);
    const leafTotal = values.reduce((sum, v) => sum + v[5], 0n);
    check('total-manifest', 'Leaf rewards add up to the manifest total', leafTotal === BigInt(manifest.total_reward),
      `leaves ${formatToken(leafTotal)}, manifest ${formatToken(manifest.total_reward)}`);
    check('count-manifest', 'Leaf count equals the manifest count', leaves.length === manifest.annotation_count,
      `${leaves.length} leaves, manifest says ${manifest.annotation_count}`);
    // The payouts the chunks minted, per annotator, are exactly the annotator's leaf rewards.
    const payouts = sumBy(manifest.chunks.flat(), (p) => p[0].toLowerCase(), (p) => BigInt(p[3]));
    const earned = sumBy(leaves, (l) => l.annotator.toLowerCase(), (l) => BigInt(l.reward));
    const payoutsMatch = payouts.size === earned.size && [...earned].every(([who, amount]) => payouts.get(who) === amount);
    check('payouts', 'Chunk payouts match each annotator\'s leaves', payoutsMatch,
      `${earned.size} annotator(s), ${manifest.chunks.length} chunk(s)`);

    // 2. What the ledger recorded.
    const reader = chainReader();
    if (!reader) {
      check('chain', 'Chain access', false, 'connect a wallet on the service chain: the service publishes no RPC URL');
    } else {
      $('audit-source').textContent = `Chain reads through ${reader.source}.`;
      const ledger = ledgerContract();
      const [onChain, settled] = await Promise.all([
        reader.client.readContract({ ...ledger, functionName: 'epoch', args: [BigInt(epochId)] }),
        reader.client.readContract({ ...ledger, functionName: 'isEpochSettled', args: [BigInt(epochId)] }),
      ]);
      check('root-onchain', 'Rebuilt root equals the on-chain root', same(tree.root, onChain.root),
        `rebuilt ${tree.root}, ledger ${onChain.root}`);
      check('settled-onchain', 'Epoch is fully settled on-chain', settled === true && onChain.chunksSettled === onChain.chunkCount
        && Number(onChain.chunkCount) === manifest.chunks.length,
        `${onChain.chunksSettled} of ${onChain.chunkCount} chunk(s) settled; manifest has ${manifest.chunks.length}`);
      check('reward-onchain', 'Minted = declared reward = manifest total',
        onChain.minted === onChain.declaredReward && onChain.minted === BigInt(manifest.total_reward),
        `minted ${formatToken(onChain.minted)}, declared ${formatToken(onChain.declaredReward)}, manifest ${formatToken(manifest.total_reward)}`);
      check('count-onchain', 'Settled annotations = declared = manifest count',
        Number(onChain.settledAnnotations) === manifest.annotation_count && Number(onChain.declaredAnnotations) === manifest.annotation_count,
        `settled ${onChain.settledAnnotations}, declared ${onChain.declaredAnnotations}, manifest ${manifest.annotation_count}`);

      // 3. Inclusion proofs: the manifest's proof against the ledger's root, here and on-chain.
      const sample = proofSample(leaves);
      const results = await Promise.all(sample.map(async (l) => {
        const value = [BigInt(epochId), l.annotator, BigInt(l.project_id), l.task_id, l.label_hash, BigInt(l.reward)];
        const local = StandardMerkleTree.verify(onChain.root, LEAF_TYPES, value, l.proof);
        const remote = await reader.client.readContract({ ...ledger, functionName: 'verifyAnnotation', args: [BigInt(epochId),
          { annotator: l.annotator, projectId: BigInt(l.project_id), taskId: l.task_id, labelHash: l.label_hash, reward: BigInt(l.reward) },
          l.proof] });
        return { id: l.submission_id, local, remote };
      }));
      const failed = results.filter((r) => !r.local || !r.remote);
      const mine = sample.filter((l) => state.wallet && same(l.annotator, state.wallet.address)).length;
      check('proofs', `Inclusion proofs verify (locally and with verifyAnnotation)`, failed.length === 0 && results.length > 0,
        `${results.length - failed.length} of ${results.length} sampled proofs verify` + (mine ? `, ${mine} of them yours` : '')
        + (failed.length ? `; failing submissions ${failed.map((r) => r.id).join(', ')}` : ''));
    }
  } catch (err) {
    check('error', 'Audit ran to the end', false, describeError(err));
  } finally {
    $('run-audit').disabled = false;
  }
  showChecks(epochId, checks);
}

function showChecks(epochId, checks) {
  $('audit-checks').replaceChildren(...checks.map((c) => el('li', { 'data-testid': 'audit-check', dataset: { check: c.id, ok: String(c.ok) } },
    el('span', { class: c.ok ? 'ok' : 'bad' }, c.ok ? 'ok' : 'MISMATCH'),
    el('span', {}, c.name, el('div', { class: 'detail' }, c.detail)))));
  const failures = checks.filter((c) => !c.ok).length;
  const verdict = $('audit-verdict');
  verdict.className = `verdict ${failures ? 'bad' : 'ok'}`;
  verdict.dataset.epochId = String(epochId);
  verdict.dataset.clean = String(!failures);
  verdict.textContent = failures ? `Epoch ${epochId}: audit FAILED (${failures} of ${checks.length} checks)`
    : `Epoch ${epochId}: audit clean (${checks.length} checks)`;
  verdict.hidden = false;
}

export function initAudit() {
  $('reload-epochs').addEventListener('click', () => loadEpochs().catch((err) => showNotice($('audit-source'), describeError(err))));
  $('run-audit').addEventListener('click', () => runAudit());
}
