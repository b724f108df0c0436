"""labelshare.db.params.in_values: lists bound into IN (...) take a few statement shapes, with the
same rows selected (the soak's statement-cache churn)."""

from __future__ import annotations

from sqlalchemy import column, create_engine, select, table, text

from labelshare.db.params import in_values


def test_inValues_padsToAPowerOfTwoWithTheSameItems():
    for length in range(0, 1100):
        items = list(range(length))
        padded = in_values(items)
        assert set(padded) == set(items) and padded[:length] == items
        assert length <= len(padded) < max(2, 2 * length)
        assert len(padded) & (len(padded) - 1) == 0 or length == 0
    assert len({len(in_values(range(n))) for n in range(1, 1025)}) == 11  # 1, 2, 4, ... 1024


def test_inValues_selectsTheSameRowsInFewStatementShapes():
    engine = create_engine("sqlite://")
    numbers = table("numbers", column("n"))
    with engine.begin() as db:
        db.execute(text("CREATE TABLE numbers (n INTEGER)"))
        db.execute(text("INSERT INTO numbers VALUES (:n)"), [{"n": n} for n in range(200)])
        statements = set()
        for length in range(1, 130):
            wanted = list(range(0, 2 * length, 2))
            query = select(numbers.c.n).where(numbers.c.n.in_(in_values(wanted))).order_by(numbers.c.n)
            assert db.scalars(query).all() == [n for n in wanted if n < 200]
            statements.add(str(query.compile(engine, compile_kwargs={"render_postcompile": True})))
    assert len(statements) == 9  # 1 ... 256 placeholders, against 129 without the padding
