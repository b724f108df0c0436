"""A population of simulated annotators working through the real API against a real chain.

Every annotator has its own key: it signs in with SIWE, takes tasks from ``/tasks/next``, signs
each label (EIP-712) and submits it; rewards are read from the token contract after the running
backend's worker has reviewed and settled everything. Nobody in the simulation can see the truth
except through their skill.

Population (``SimulationConfig``):
- experts: accuracy ``expert_accuracy``; they take the medicine qualification test and, once
  qualified, work on the medicine project first;
- generalists: accuracy ``generalist_accuracy``; they try the test too;
- spammers (``spammer_share`` of everyone), in equal parts: random clickers, always-same-label,
  and copiers (a ring submitting one shared, truth-blind answer per task, so they agree with
  each other). Spammers click ``spammer_speed`` times as often as honest annotators.

The report says who earned what, the accuracy of the verified labels against the hidden truth
(and of majority vote over the same answers), and plots estimated reliability against reward.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from labelshare.client import ApiError, LabelShareClient
from labelshare.quality import evidence_needed
from labelshare.rewards import RewardPolicy

__all__ = ["SimulationConfig", "SimulationReport", "run_simulation", "write_report"]

KINDS = ("expert", "generalist", "random", "constant", "copier")
SPAMMERS = ("random", "constant", "copier")


@dataclass(frozen=True)
class SimulationConfig:
    annotators: int = 30
    spammer_share: float = 0.3
    expert_share: float = 0.4  # of the honest annotators
    expert_accuracy: tuple[float, float] = (0.90, 0.98)
    generalist_accuracy: tuple[float, float] = (0.65, 0.80)
    spammer_speed: float = 2.0
    classes: int = 4
    general_tasks: int = 240
    medicine_tasks: int = 60
    gold_tasks: int = 50  # per project
    qualification_items: int = 30
    overlap: int = 3
    gold_rate: float = 0.2
    reward: int = 10**18
    seed: int = 7


@dataclass
class AnnotatorResult:
    address: str
    kind: str
    accuracy: float | None  # the simulated truth; None for spammers
    submitted: int = 0
    accepted: int = 0
    held: int = 0  # still pending at the end: never decidable (run_simulation)
    earned: int = 0  # on-chain token balance, smallest unit
    qualified: bool = False
    suspended: str | None = None
    gold_accuracy: float | None = None
    estimated_skill: float | None = None

    @property
    def per_accepted(self) -> float:
        return self.earned / self.accepted if self.accepted else 0.0


@dataclass
class SimulationReport:
    config: SimulationConfig
    annotators: list[AnnotatorResult]
    verified_accuracy: float  # verified labels against the hidden truth
    majority_accuracy: float  # majority vote (random tie-break) over the same answers
    seconds: float
    submissions: int
    summary: dict[str, Any] = field(default_factory=dict)

    def spammer_token_share(self) -> float:
        total = sum(a.earned for a in self.annotators)
        return sum(a.earned for a in self.annotators if a.kind in SPAMMERS) / total if total else 0.0

    def mean_per_accepted(self, kind: str) -> float:
        group = [a for a in self.annotators if a.kind == kind and a.accepted]
        return sum(a.earned for a in group) / sum(a.accepted for a in group) if group else 0.0


class _Annotator:
    def __init__(self, client: LabelShareClient, kind: str, accuracy: float | None, rng: random.Random) -> None:
        self.client, self.kind, self.accuracy, self.rng = client, kind, accuracy, rng
        self.result = AnnotatorResult(client.account.address, kind, accuracy)
        self.done: set[int] = set()  # projects with nothing left for this annotator

    def answer(self, truth: str, labels: list[str], task_id: str, ring_seed: int) -> str:
        if self.kind == "random":
            return self.rng.choice(labels)
        if self.kind == "constant":
            return labels[0]
        if self.kind == "copier":  # every ring member gives the same truth-blind answer
            return labels[random.Random(f"{ring_seed}:{task_id}").randrange(len(labels))]
        assert self.accuracy is not None
        if self.rng.random() < self.accuracy:
            return truth
        return self.rng.choice([label for label in labels if label != truth])


def _population(config: SimulationConfig, rng: random.Random) -> list[tuple[str, float | None]]:
    spammers = round(config.annotators * config.spammer_share)
    honest = config.annotators - spammers
    experts = round(honest * config.expert_share)
    people: list[tuple[str, float | None]] = [("expert", rng.uniform(*config.expert_accuracy)) for _ in range(experts)]
    people += [("generalist", rng.uniform(*config.generalist_accuracy)) for _ in range(honest - experts)]
    people += [(SPAMMERS[i % 3], None) for i in range(spammers)]
    return people


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def run_simulation(api_url: str, requester: LocalAccount, admin: LocalAccount, token: Contract,
                   config: SimulationConfig = SimulationConfig(), siwe_domain: str | None = None,
                   settle_timeout: float = 300.0, log: Any = print) -> SimulationReport:
    rng = random.Random(config.seed)
    started = time.monotonic()
    labels = [f"c{i}" for i in range(config.classes)]
    schema = {"type": "classification", "labels": labels}

    def connect(account: LocalAccount) -> LabelShareClient:
        client = LabelShareClient(api_url, account, siwe_domain=siwe_domain)
        client.sign_in()
        return client

    # The requester's projects: tasks with a hidden truth, and gold tasks with known answers.
    owner = connect(requester)
    truth: dict[str, str] = {}
    projects: dict[str, dict[str, Any]] = {}
    for domain, count in (("general", config.general_tasks), ("medicine", config.medicine_tasks)):
        project = owner.create_project(name=f"Simulation: {domain}", domain=domain, label_schema=schema,
                                       reward_per_label=config.reward, overlap=config.overlap,
                                       gold_rate=config.gold_rate)
        projects[domain] = project
        tasks, gold = [], []
        for i in range(count + config.gold_tasks):
            text = f"{domain} item {i}"
            truth[text] = rng.choice(labels)
            if i < count:
                tasks.append({"id": f"t{i}", "data": {"text": text}})
            else:
                gold.append({"id": f"g{i}", "data": {"text": text}, "gold": {"label": truth[text]}})
        owner.upload_tasks(project["id"], _jsonl(tasks))
        owner.upload_tasks(project["id"], _jsonl(gold), gold=True)
    # The medicine qualification test: a pool of gold items.
    items = []
    for i in range(config.qualification_items):
        text = f"medicine test {i}"
        truth[text] = rng.choice(labels)
        items.append({"id": f"q{i}", "data": {"text": text}, "answer": {"label": truth[text]}})
    connect(admin).put_qualification_test("medicine", label_schema=schema, questions=10, pass_accuracy=0.8,
                                          cooldown_seconds=3600, items=items)

    annotators = [_Annotator(connect(Account.create()), kind, acc, random.Random(rng.random()))
                  for kind, acc in _population(config, rng)]
    ring_seed = rng.randrange(2**32)
    log(f"{len(annotators)} annotators signed in; projects {[p['id'] for p in projects.values()]}")

    # Everyone may try the medicine test once.
    for a in annotators:
        attempt = a.client.start_qualification("medicine")
        answers = {q["item_id"]: {"label": a.answer(truth[q["data"]["text"]], labels, q["item_id"], ring_seed)}
                   for q in attempt["questions"]}
        a.result.qualified = a.client.answer_qualification(attempt["attempt_id"], answers)["passed"]

    # Labelling: weighted turns until nobody has work left.
    answers_given: list[tuple[str, str, str]] = []  # (text, address, label) for the majority-vote baseline
    active = list(annotators)
    submissions = 0
    while active:
        weights = [config.spammer_speed if a.kind in SPAMMERS else 1.0 for a in active]
        a = rng.choices(active, weights)[0]
        order = ["medicine", "general"] if a.result.qualified else ["general"]
        project = next((projects[d] for d in order if projects[d]["id"] not in a.done), None)
        if project is None:
            active.remove(a)
            continue
        try:
            offer = a.client.next_task(project["id"])
            if offer is None:
                a.done.add(project["id"])
                continue
            text = offer["data"]["text"]
            label = a.answer(truth[text], labels, offer["task_id"], ring_seed)
            a.client.submit(offer, {"label": label})
        except ApiError as err:
            if err.code == "annotator_suspended":
                a.result.suspended = err.detail
                active.remove(a)
                continue
            if err.status == 403:  # e.g. a qualification being revoked
                a.done.add(project["id"])
                continue
            raise
        submissions += 1
        a.result.submitted += 1
        answers_given.append((text, a.result.address, label))
    log(f"{submissions} signed submissions in {time.monotonic() - started:.0f}s; waiting for review and settlement")

    # The backend's worker reviews and settles on its own. Nobody labels any more, so the tasks'
    # submissions and everyone's gold records are final: wait for what the worker can still decide
    # and settle. The rest stays held (quality.evidence_needed): labels of an annotator who answered
    # too little gold to price them, and of tasks whose overlap was never filled.
    needed = {p["id"]: evidence_needed(RewardPolicy.model_validate(p["reward_policy"]), p["gold_rate"],
                                       owner.stats(p["id"])["gold_tasks"]) for p in projects.values()}
    deadline = time.monotonic() + settle_timeout
    while True:
        waiting = sum(owner.stats(p["id"])["awaiting_review"] for p in projects.values())
        verified = {p["id"]: {json.loads(line)["task_key"] for line in owner.export(p["id"]).splitlines()}
                    for p in projects.values()}
        waiting += sum(_decidable(a, projects, needed, verified) for a in annotators)
        pending = sum(a.client.rewards()["pending_annotations"] for a in annotators)
        if not waiting and not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{waiting} tasks or labels await review and {pending} accepted labels await settlement")
        time.sleep(1.0)

    verified: dict[str, str] = {}
    for project in projects.values():
        for line in owner.export(project["id"]).splitlines():
            record = json.loads(line)
            verified[record["data"]["text"]] = record["label"]["label"]
    for a in annotators:
        subs = a.client.all_submissions()
        a.result.accepted = sum(s["status"] == "accepted" for s in subs)
        a.result.held = sum(s["status"] == "pending" for s in subs)
        a.result.earned = token.functions.balanceOf(a.result.address).call()
        quality = a.client.quality()
        if quality["suspended"]:
            a.result.suspended = quality["suspension_reason"]
        answered = sum(d["gold_answered"] for d in quality["domains"])
        a.result.gold_accuracy = sum(d["gold_correct"] for d in quality["domains"]) / answered if answered else None
        skills = [(d["skill"], d["skill_answers"]) for d in quality["domains"] if d["skill"] is not None]
        if skills:
            a.result.estimated_skill = sum(s * n for s, n in skills) / max(1, sum(n for _, n in skills))
        a.client.close()
    owner.close()
    return SimulationReport(
        config=config, annotators=[a.result for a in annotators],
        verified_accuracy=sum(verified[t] == truth[t] for t in verified) / len(verified) if verified else 0.0,
        majority_accuracy=_majority_accuracy(answers_given, truth, set(verified), rng),
        seconds=time.monotonic() - started, submissions=submissions,
    )


def _decidable(a: _Annotator, projects: dict[str, dict[str, Any]], needed: dict[int, int],
               verified: dict[int, set[str]]) -> int:
    """``a``'s pending labels that the next review pass decides: on a verified task, in a domain
    where ``a`` answered the gold the project needs."""
    answered = {d["domain"]: d["gold_answered"] for d in a.client.quality()["domains"]}
    ready = {p["id"] for domain, p in projects.items() if answered.get(domain, 0) >= needed[p["id"]]}
    return sum(s["status"] == "pending" and s["project_id"] in ready and s["task_id"] in verified[s["project_id"]]
               for s in a.client.all_submissions())


def _majority_accuracy(answers: list[tuple[str, str, str]], truth: dict[str, str], tasks: set[str],
                       rng: random.Random) -> float:
    by_task: dict[str, Counter[str]] = {}
    for text, _, label in answers:
        if text in tasks:
            by_task.setdefault(text, Counter())[label] += 1
    correct = 0.0
    for text, votes in by_task.items():
        top = max(votes.values())
        tied = [label for label, n in votes.items() if n == top]
        correct += (truth[text] in tied) / len(tied)  # a random tie-break, in expectation
    return correct / len(by_task) if by_task else 0.0


def write_report(report: SimulationReport, out_dir: Path) -> dict[str, Path]:
    """Writes simulation.json, simulation.md and simulation.png (reliability against reward)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "spammer_token_share": report.spammer_token_share(),
        "per_accepted_label": {k: report.mean_per_accepted(k) / report.config.reward for k in KINDS},
        "verified_accuracy": report.verified_accuracy, "majority_vote_accuracy": report.majority_accuracy,
        "suspended": sum(a.suspended is not None for a in report.annotators),
        "held": sum(a.held for a in report.annotators),
        "submissions": report.submissions, "seconds": round(report.seconds, 1),
    }
    report.summary = summary
    paths = {"json": out_dir / "simulation.json", "md": out_dir / "simulation.md", "png": out_dir / "simulation.png"}
    paths["json"].write_text(json.dumps({
        "config": asdict(report.config), "summary": summary,
        "annotators": [{**asdict(a), "earned": str(a.earned)} for a in report.annotators]}, indent=2) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, marker in zip(KINDS, "o^sxd", strict=True):
        group = [a for a in report.annotators if a.kind == kind]
        ax.scatter([a.gold_accuracy or 0.0 for a in group], [a.earned / report.config.reward for a in group],
                   marker=marker, label=kind)
    ax.set_xlabel("gold accuracy (reliability the backend measured)")
    ax.set_ylabel("tokens earned (LSR, on-chain)")
    ax.set_title(f"{len(report.annotators)} annotators, {report.submissions} signed submissions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)

    lines = [
        "# Simulation report", "",
        f"{len(report.annotators)} annotators ({report.config.spammer_share:.0%} spammers), "
        f"{report.submissions} signed submissions through the API, settled on-chain.", "",
        f"- spammers' share of all tokens: **{summary['spammer_token_share']:.2%}**",
        f"- verified labels correct: **{report.verified_accuracy:.2%}** "
        f"(majority vote over the same answers: {report.majority_accuracy:.2%})",
        f"- annotators suspended: {summary['suspended']}",
        f"- labels held, never decided: {summary['held']} (their task never got its overlap, or their annotator "
        "answered too little gold to price them)", "",
        "| kind | annotators | accepted | tokens earned (LSR) | per accepted label (LSR) |", "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        group = [a for a in report.annotators if a.kind == kind]
        lines.append(f"| {kind} | {len(group)} | {sum(a.accepted for a in group)} | "
                     f"{sum(a.earned for a in group) / report.config.reward:.2f} | "
                     f"{summary['per_accepted_label'][kind]:.3f} |")
    lines += ["", "![reliability against reward](simulation.png)", ""]
    paths["md"].write_text("\n".join(lines))
    return paths
