"""Exercises every external state-changing function of the ledger, the token, the timelock, the
licences and fee staking once on its success path, so ``make gas`` (``ape test tests/gas --gas``)
reports the gas of each.
Asserts on receipts, balances and plain views: Ape's gas mode traces calls, and the struct-returning
views (``project``, ``epoch``) and reverting deployments do not survive it, so those two views are
absent from the report (the contract tests cover them)."""

from __future__ import annotations

import time

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation

REWARD = 10**18


def _settle(ledger, verifier, annotations, per_chunk=400):
    plan = plan_epoch(ledger.nextEpochId(), annotations, per_chunk)
    receipts = [ledger.settle(plan.epoch_id, plan.header, i, [p.as_tuple() for p in chunk], sender=verifier)
                for i, chunk in enumerate(plan.chunks)]
    return plan, receipts


def test_everyExternalFunction_onItsSuccessPath(ledger, token, timelock, admin, guardian, verifier, qualifier,
                                                requester, annotators, stranger, chain, deploy_params):
    # Projects and qualifications
    receipt = ledger.createProject(requester, keccak(text="spec"), domain_id(GENERAL), REWARD, 3, sender=requester)
    project_id = receipt.decode_logs(ledger.ProjectCreated)[0].projectId
    medicine = ledger.createProject(requester, keccak(text="spec-med"), domain_id("medicine"), REWARD, 3,
                                    sender=requester).decode_logs(ledger.ProjectCreated)[0].projectId
    ledger.setProjectOpen(project_id, False, sender=requester)
    ledger.setProjectOpen(project_id, True, sender=requester)
    ledger.grantQualification(annotators[0], domain_id("medicine"), 2, keccak(text="test"), sender=qualifier)

    # Settlement: one chunk, then an epoch of three chunks, and a specialist payout
    fresh = [Account.create().address for _ in range(3)]
    annotations = [AcceptedAnnotation(a, project_id, keccak(text=f"{a}-{t}"), keccak(text="l"), REWARD)
                   for a in fresh for t in range(2)]
    plan, receipts = _settle(ledger, verifier, annotations)
    assert all(r.status == 1 for r in receipts)
    plan, receipts = _settle(ledger, verifier, [*annotations[:3], AcceptedAnnotation(
        annotators[0].address, medicine, keccak(text="m"), keccak(text="l"), REWARD)], per_chunk=1)
    assert len(receipts) == 3
    assert ledger.verifyAnnotation(plan.epoch_id, plan.annotations[0].as_tuple(), plan.proof(0))
    assert ledger.annotationLeaf(plan.epoch_id, plan.annotations[0].as_tuple()) == plan.leaves[0]
    assert ledger.isEpochSettled(plan.epoch_id) and ledger.isChunkSettled(plan.epoch_id, 2)
    assert ledger.projectCount() == 2
    assert ledger.qualificationLevel(annotators[0], domain_id("medicine")) == 2
    assert ledger.isQualified(annotators[0], domain_id("medicine"))
    assert ledger.token() == token.address and token.minter() == ledger.address
    assert (ledger.maxRewardMultiplierBps(), ledger.minEpochInterval()) == (
        deploy_params.max_reward_multiplier_bps, deploy_params.min_epoch_interval)
    submission = (fresh[0], project_id, bytes(32), bytes(32), 1, 2**40)
    signer = Account.create()
    digest = ledger.submissionDigest(submission)
    signature = signer.unsafe_sign_hash(digest).signature
    assert ledger.recoverSubmitter(submission, bytes(signature)) == signer.address
    ledger.revokeQualification(annotators[0], domain_id("medicine"), keccak(text="reliability"), sender=qualifier)

    # Pausing
    ledger.pause(sender=guardian)
    ledger.unpause(sender=guardian)
    token.pause(sender=guardian)
    token.unpause(sender=guardian)

    # Token: transfer, approve, transferFrom, permit
    holder = Account.create()
    _settle(ledger, verifier, [AcceptedAnnotation(holder.address, project_id, keccak(text="h"), keccak(text="l"),
                                                  REWARD)])
    deadline = int(time.time()) + 3600
    permit = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                          {"name": "chainId", "type": "uint256"},
                                          {"name": "verifyingContract", "type": "address"}],
                        "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                                   {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                                   {"name": "deadline", "type": "uint256"}]},
              "primaryType": "Permit",
              "domain": {"name": token.name(), "version": "1", "chainId": chain.chain_id,
                         "verifyingContract": token.address},
              "message": {"owner": holder.address, "spender": stranger.address, "value": REWARD,
                          "nonce": token.nonces(holder.address), "deadline": deadline}}
    signed = Account.sign_message(encode_typed_data(full_message=permit), holder.key)
    token.permit(holder.address, stranger, REWARD, deadline, signed.v, signed.r.to_bytes(32, "big"),
                 signed.s.to_bytes(32, "big"), sender=stranger)
    token.transferFrom(holder.address, stranger, REWARD // 2, sender=stranger)
    token.approve(annotators[1], 1, sender=stranger)
    token.transfer(annotators[1], 1, sender=stranger)
    assert token.balanceOf(stranger) == REWARD // 2 - 1
    assert token.allowance(holder.address, stranger) == REWARD // 2
    assert token.totalSupply() <= token.cap() and not token.paused() and not ledger.paused()
    assert token.DOMAIN_SEPARATOR()

    # Admin changes, scheduled and executed through the timelock
    delay = deploy_params.timelock_delay
    calls = [ledger.setEpochMintCap.encode_input(2 * deploy_params.epoch_mint_cap),
             ledger.setMaxRewardMultiplier.encode_input(40_000), ledger.setMinEpochInterval.encode_input(60),
             ledger.grantRole.encode_input(ledger.VERIFIER_ROLE(), stranger.address)]
    for i, data in enumerate(calls):
        timelock.schedule(ledger.address, 0, data, bytes(32), bytes([i]) * 32, delay, sender=admin)
    chain.pending_timestamp += delay + 1
    for i, data in enumerate(calls):
        timelock.execute(ledger.address, 0, data, bytes(32), bytes([i]) * 32, sender=admin)
    assert ledger.epochMintCap() == 2 * deploy_params.epoch_mint_cap
    assert ledger.hasRole(ledger.VERIFIER_ROLE(), stranger)


def test_licenceFunctions_onTheirSuccessPath(ledger, licences, stablecoin, verifier, requester, annotators, stranger,
                                             guardian):
    from labelshare.licences import ETH, VersionShares

    project_id = ledger.createProject(requester, keccak(text="spec-lic"), domain_id(GENERAL), REWARD, 1,
                                      sender=requester).decode_logs(ledger.ProjectCreated)[0].projectId
    annotations = [AcceptedAnnotation(a.address, project_id, keccak(text=f"lic-{i}-{a.address}"), keccak(text="l"),
                                      REWARD) for i, a in enumerate(annotators)]
    plan, _ = _settle(ledger, verifier, annotations)
    shares = VersionShares(project_id, plan.epoch_id, plan.epoch_id, {a.address: REWARD for a in annotators})
    licences.publishVersion(project_id, plan.epoch_id, plan.epoch_id, shares.tree.root, shares.total, sender=verifier)
    licences.setPrice(project_id, ETH, 10**18, sender=requester)
    licences.setPrice(project_id, stablecoin.address, 100 * 10**6, sender=requester)
    licences.setRequesterShare(project_id, 2_000, sender=requester)
    licences.buyLicence(1, ETH, 10**18, value=10**18, sender=stranger)
    stablecoin.mint(stranger, 100 * 10**6, sender=stranger)
    stablecoin.approve(licences.address, 100 * 10**6, sender=stranger)
    licences.buyLicence(1, stablecoin.address, 100 * 10**6, sender=stranger)
    for currency in (ETH, stablecoin.address):
        a = annotators[0].address
        receipt = licences.claim(1, currency, a, shares.shares[a], [bytes.fromhex(p[2:]) for p in shares.proof(a)],
                                 sender=annotators[0])
        assert receipt.decode_logs(licences.RevenueClaimed)[0].amount > 0
        licences.withdraw(currency, sender=requester)
    licences.pause(sender=guardian)
    licences.unpause(sender=guardian)
    assert licences.licenceCount() == 2 and licences.owed(requester, ETH) == 0


def test_stakingFunctions_onTheirSuccessPath(project, deployer, ledger, token, timelock, stablecoin, verifier,
                                             requester, annotators, stranger, guardian, chain, deploy_params):
    from labelshare.licences import ETH

    # Its own FeeStaking with the deployer as admin: the protocol's answers only to the timelock.
    staking = deployer.deploy(project.FeeStaking, token.address, deployer.address, guardian.address,
                              deploy_params.unbonding_delay, [stablecoin.address])
    project_id = ledger.createProject(requester, keccak(text="spec-stake"), domain_id(GENERAL), REWARD, 1,
                                      sender=requester).decode_logs(ledger.ProjectCreated)[0].projectId
    _settle(ledger, verifier, [AcceptedAnnotation(a.address, project_id, keccak(text=f"stake-{a.address}-{t}"),
                                                  keccak(text="l"), REWARD) for a in annotators for t in range(3)])
    for a in annotators:
        token.approve(staking.address, 2 * REWARD, sender=a)
        staking.stake(REWARD, sender=a)
    staking.distribute(ETH, 10**18, value=10**18, sender=stranger)
    stablecoin.mint(stranger, 100 * 10**6, sender=stranger)
    stablecoin.approve(staking.address, 100 * 10**6, sender=stranger)
    staking.distribute(stablecoin.address, 100 * 10**6, sender=stranger)
    staking.stake(REWARD, sender=annotators[0])  # a second stake settles both currencies
    for currency in (ETH, stablecoin.address):
        staking.claim(annotators[0], currency, sender=annotators[0])
    receipt = staking.requestUnstake(REWARD, sender=annotators[1])
    chain.pending_timestamp = receipt.timestamp + deploy_params.unbonding_delay
    staking.withdraw(sender=annotators[1])
    staking.setCurrencyAllowed(stablecoin.address, False, sender=deployer)
    staking.setUnbondingDelay(2 * deploy_params.unbonding_delay, sender=deployer)
    staking.pause(sender=guardian)
    staking.unpause(sender=guardian)
    assert staking.totalStaked() == 3 * REWARD and staking.totalUnbonding() == 0
    assert staking.claimable(annotators[0], ETH) == 0 and staking.claimable(annotators[2], ETH) > 0
