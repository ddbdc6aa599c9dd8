"""Loyalty: the contract suite over PostgreSQL and the in-memory source, then what only the
database has (migrations, ledger, faults). Real PostgreSQL throughout, no mocks."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from datasources.erp.loyalty import (
    Enrollment,
    PostgresLoyaltySource,
    TransactionConflictError,
    translate,
)
from datasources.erp.loyalty_build import (
    UnconfiguredLoyaltySource,
    apply_migrations,
    create_loyalty_pool,
    open_loyalty,
)
from datasources.erp.loyalty_demo import demo_accounts
from datasources.erp.loyalty_memory import DEFAULT_TIERS, InMemoryLoyaltySource
from datasources.erp.migrate import (
    LOYALTY_MIGRATIONS,
    MigrationChecksumError,
    MigrationError,
    load_migrations,
)
from datasources.errors import (
    CircuitOpenError,
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.loyalty import (
    SOURCE,
    InsufficientPointsError,
    LoyaltyRecord,
    LoyaltyTier,
    RedemptionConflictError,
    RedemptionRecord,
    RedemptionStatus,
)
from datasources.resilience import BreakerState, Policy, Resilience
from engines.postgres_server import PostgresServer
from engines.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from loyalty_fixtures import SettingsFor

pytest_plugins = ("loyalty_fixtures",)

Loyalty = PostgresLoyaltySource | InMemoryLoyaltySource


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


async def member(loyalty: Loyalty, points: int, lifetime: int | None = None) -> str:
    customer_id = new_id("cus_t")
    lifetime = points if lifetime is None else lifetime
    await loyalty.enroll([Enrollment(customer_id, points=points, lifetime_points=lifetime)])
    return customer_id


async def balance(loyalty: Loyalty, customer_id: str) -> int:
    [record] = await loyalty.accounts_by_customer([customer_id])
    assert record is not None
    return record.points


async def assert_ledger_matches(loyalty: Loyalty, dsn: str, customer_id: str) -> None:
    """The balance is a cache of the ledger: they agree after any interleaving."""
    if not isinstance(loyalty, PostgresLoyaltySource):
        return
    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval(
            "SELECT coalesce(sum(points), 0) FROM loyalty.ledger_entry WHERE customer_id = $1",
            customer_id,
        )
    finally:
        await conn.close()
    assert total == await balance(loyalty, customer_id)


# --- the contract: accounts and tiers ---------------------------------------------------------


async def test_accounts_come_back_in_request_order_with_none_for_non_members(
    loyalty: Loyalty,
) -> None:
    # given
    gold = await member(loyalty, points=700, lifetime=5200)
    bronze = await member(loyalty, points=10)
    stranger = new_id("cus_t")

    # when
    records = await loyalty.accounts_by_customer([stranger, gold, bronze, gold])

    # then
    assert records == [
        None,
        LoyaltyRecord(gold, LoyaltyTier.GOLD, 700, next_tier_at=20000, lifetime_points=5200),
        LoyaltyRecord(bronze, LoyaltyTier.BRONZE, 10, next_tier_at=1000, lifetime_points=10),
        records[1],
    ]
    assert await loyalty.accounts_by_customer([]) == []


@pytest.mark.parametrize(
    ("lifetime", "tier", "next_tier_at"),
    [
        (0, LoyaltyTier.BRONZE, 1000),
        (999, LoyaltyTier.BRONZE, 1000),
        (1000, LoyaltyTier.SILVER, 5000),
        (19999, LoyaltyTier.GOLD, 20000),
        (20000, LoyaltyTier.PLATINUM, None),
    ],
)
async def test_tier_and_next_tier_follow_lifetime_points(
    loyalty: Loyalty, lifetime: int, tier: LoyaltyTier, next_tier_at: int | None
) -> None:
    customer_id = await member(loyalty, points=0, lifetime=lifetime)

    [record] = await loyalty.accounts_by_customer([customer_id])

    assert record is not None
    assert (record.tier, record.next_tier_at) == (tier, next_tier_at)


async def test_earning_raises_the_tier_once_per_order_and_spending_does_not_demote(
    loyalty: Loyalty,
) -> None:
    # given a Bronze member just below Silver
    customer_id = await member(loyalty, points=900, lifetime=900)
    order_id = new_id("ord")

    # when they earn 200 for an order, twice (a replayed event)
    first = await loyalty.earn(order_id=order_id, customer_id=customer_id, points=200)
    replay = await loyalty.earn(order_id=order_id, customer_id=customer_id, points=200)
    await loyalty.redeem(order_id=new_id("ord"), customer_id=customer_id, points=1100)

    # then
    assert first == replay
    assert (first.tier, first.points, first.lifetime_points) == (LoyaltyTier.SILVER, 1100, 1100)
    [after] = await loyalty.accounts_by_customer([customer_id])
    assert after is not None
    assert (after.tier, after.points, after.next_tier_at) == (LoyaltyTier.SILVER, 0, 5000)


async def test_earning_enrolls_a_new_customer_and_refuses_a_reused_order(
    loyalty: Loyalty,
) -> None:
    customer_id, order_id = new_id("cus_t"), new_id("ord")

    record = await loyalty.earn(order_id=order_id, customer_id=customer_id, points=50)

    assert (record.tier, record.points) == (LoyaltyTier.BRONZE, 50)
    with pytest.raises(SourceRejectedError) as caught:
        await loyalty.earn(order_id=order_id, customer_id=customer_id, points=60)
    assert caught.value.error_type == "Loyalty:EarnConflict"


async def test_the_tier_programme_is_the_same_in_both_sources(
    postgres_loyalty: PostgresLoyaltySource,
) -> None:
    assert await postgres_loyalty.tiers() == DEFAULT_TIERS


# --- the contract: redemption ---------------------------------------------------------------


async def test_redeem_takes_the_points_once_and_a_replay_returns_the_first_result(
    loyalty: Loyalty, loyalty_dsn: str
) -> None:
    # given
    customer_id = await member(loyalty, points=500)
    order_id = new_id("ord")

    # when
    first = await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)
    replay = await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)

    # then
    assert (
        first == replay == RedemptionRecord(order_id, customer_id, 200, RedemptionStatus.REDEEMED)
    )
    assert await balance(loyalty, customer_id) == 300
    await assert_ledger_matches(loyalty, loyalty_dsn, customer_id)


async def test_twenty_concurrent_duplicates_take_the_points_once(
    loyalty: Loyalty, loyalty_dsn: str
) -> None:
    # given
    customer_id = await member(loyalty, points=1000)
    order_id = new_id("ord")

    # when a client retries one checkout twenty times at once
    results = await asyncio.gather(
        *(loyalty.redeem(order_id=order_id, customer_id=customer_id, points=300) for _ in range(20))
    )

    # then
    assert set(results) == {RedemptionRecord(order_id, customer_id, 300, RedemptionStatus.REDEEMED)}
    assert await balance(loyalty, customer_id) == 700
    await assert_ledger_matches(loyalty, loyalty_dsn, customer_id)


async def test_concurrent_orders_beyond_the_balance_never_overdraw(
    loyalty: Loyalty, loyalty_dsn: str
) -> None:
    # given 100 points and thirty orders of 10 points each, all at once
    customer_id = await member(loyalty, points=100)

    # when
    outcomes = await asyncio.gather(
        *(
            loyalty.redeem(order_id=new_id("ord"), customer_id=customer_id, points=10)
            for _ in range(30)
        ),
        return_exceptions=True,
    )

    # then exactly ten win and the balance is spent, not overdrawn
    won = [o for o in outcomes if isinstance(o, RedemptionRecord)]
    refused = [o for o in outcomes if isinstance(o, InsufficientPointsError)]
    assert (len(won), len(refused)) == (10, 20), outcomes
    assert await balance(loyalty, customer_id) == 0
    await assert_ledger_matches(loyalty, loyalty_dsn, customer_id)


async def test_insufficient_points_redeem_nothing_and_leave_the_order_id_free(
    loyalty: Loyalty,
) -> None:
    customer_id = await member(loyalty, points=50)
    order_id = new_id("ord")

    with pytest.raises(InsufficientPointsError) as caught:
        await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=51)

    assert caught.value.error_type == "Loyalty:InsufficientPoints"
    assert await balance(loyalty, customer_id) == 50
    # the refused attempt left no redemption behind: the order may still redeem what is there
    record = await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=50)
    assert record.status is RedemptionStatus.REDEEMED
    assert await loyalty.compensate(new_id("ord")) is None


async def test_a_customer_without_an_account_has_no_points_to_redeem(loyalty: Loyalty) -> None:
    with pytest.raises(InsufficientPointsError):
        await loyalty.redeem(order_id=new_id("ord"), customer_id=new_id("cus_t"), points=1)


@pytest.mark.parametrize("points", [0, -5])
async def test_only_positive_points_are_redeemed(loyalty: Loyalty, points: int) -> None:
    customer_id = await member(loyalty, points=100)

    with pytest.raises(SourceRejectedError) as caught:
        await loyalty.redeem(order_id=new_id("ord"), customer_id=customer_id, points=points)

    assert caught.value.error_type == "Loyalty:Invalid"
    assert await balance(loyalty, customer_id) == 100


@pytest.mark.parametrize("change", ["customer", "points"])
async def test_an_order_id_reused_for_something_else_is_a_conflict(
    loyalty: Loyalty, change: str
) -> None:
    # given
    customer_id = await member(loyalty, points=500)
    other = await member(loyalty, points=500)
    order_id = new_id("ord")
    await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=100)

    # when / then
    with pytest.raises(RedemptionConflictError) as caught:
        await loyalty.redeem(
            order_id=order_id,
            customer_id=other if change == "customer" else customer_id,
            points=100 if change == "customer" else 150,
        )
    assert caught.value.error_type == "Loyalty:RedemptionConflict"
    assert [await balance(loyalty, c) for c in (customer_id, other)] == [400, 500]


# --- the contract: compensation -------------------------------------------------------------


async def test_compensation_gives_the_points_back_exactly_once(
    loyalty: Loyalty, loyalty_dsn: str
) -> None:
    # given
    customer_id = await member(loyalty, points=500)
    order_id = new_id("ord")
    await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)

    # when the failed order is compensated by several undo paths at once, and again later
    results = await asyncio.gather(*(loyalty.compensate(order_id) for _ in range(10)))
    again = await loyalty.compensate(order_id)

    # then
    expected = RedemptionRecord(order_id, customer_id, 200, RedemptionStatus.COMPENSATED)
    assert set(results) == {expected}
    assert again == expected
    assert await balance(loyalty, customer_id) == 500
    await assert_ledger_matches(loyalty, loyalty_dsn, customer_id)


async def test_a_compensated_order_is_not_redeemed_again(loyalty: Loyalty) -> None:
    customer_id = await member(loyalty, points=500)
    order_id = new_id("ord")
    await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)
    await loyalty.compensate(order_id)

    replay = await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)

    assert replay.status is RedemptionStatus.COMPENSATED
    assert await balance(loyalty, customer_id) == 500


async def test_compensating_an_order_that_redeemed_nothing_fences_it(loyalty: Loyalty) -> None:
    """An undo whose redemption timed out (outcome unknown) must win over that redemption
    arriving late: the order id is voided, and a later redemption of it is refused."""
    customer_id = await member(loyalty, points=500)
    order_id = new_id("ord")

    assert await loyalty.compensate(order_id) is None
    assert await loyalty.compensate(order_id) is None
    with pytest.raises(RedemptionConflictError):
        await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=200)
    assert await balance(loyalty, customer_id) == 500


async def test_compensation_racing_the_redemption_leaves_a_consistent_balance(
    loyalty: Loyalty, loyalty_dsn: str
) -> None:
    """Whichever lands first, the points are either taken and given back, or never taken."""
    customer_id = await member(loyalty, points=300)
    order_ids = [new_id("ord") for _ in range(10)]

    async def redeem(order_id: str) -> RedemptionRecord | SourceError:
        try:
            return await loyalty.redeem(order_id=order_id, customer_id=customer_id, points=30)
        except RedemptionConflictError as exc:
            return exc

    await asyncio.gather(
        *(redeem(o) for o in order_ids), *(loyalty.compensate(o) for o in order_ids)
    )

    assert await balance(loyalty, customer_id) == 300
    await assert_ledger_matches(loyalty, loyalty_dsn, customer_id)


# --- demo data and the builder --------------------------------------------------------------


@pytest.fixture
def fresh_dsn(postgres_server: PostgresServer) -> str:
    """An empty database of its own (migration tests need one)."""
    return postgres_server.create_database(new_id("db"))


DEMO_CUSTOMERS = [f"cus_{n:04d}" for n in range(1, 31)]


@pytest.fixture(params=["postgres", "memory"])
async def demo_loyalty(
    request: pytest.FixtureRequest, fresh_dsn: str, make_loyalty_settings: SettingsFor
) -> AsyncIterator[Loyalty | UnconfiguredLoyaltySource]:
    dsn = fresh_dsn if request.param == "postgres" else None
    settings = make_loyalty_settings(dsn)
    async with open_loyalty(settings, embedded=True, demo_customers=DEMO_CUSTOMERS) as source:
        yield source


async def test_demo_accounts_are_seeded_deterministically_and_only_once(
    demo_loyalty: Loyalty,
) -> None:
    # given the demo accounts, seeded at start-up; one redemption since
    await demo_loyalty.redeem(order_id=new_id("ord"), customer_id="cus_0001", points=500)

    # when seeded again (a restart)
    await demo_loyalty.enroll(demo_accounts(DEMO_CUSTOMERS))
    records = await demo_loyalty.accounts_by_customer(DEMO_CUSTOMERS)

    # then
    featured = records[0]
    assert featured == LoyaltyRecord(
        "cus_0001", LoyaltyTier.GOLD, 2000, next_tier_at=20000, lifetime_points=6200
    )
    assert records[9] is None  # cus_0010: every tenth customer is not a member
    assert {r.tier for r in records if r} >= {LoyaltyTier.BRONZE, LoyaltyTier.SILVER}
    assert [r.customer_id if r else None for r in records] == [
        c if c in {a.customer_id for a in demo_accounts(DEMO_CUSTOMERS)} else None
        for c in DEMO_CUSTOMERS
    ]


async def test_without_a_dsn_outside_embedded_mode_loyalty_is_unavailable(
    make_loyalty_settings: SettingsFor,
) -> None:
    async with open_loyalty(make_loyalty_settings(None), embedded=False) as source:
        with pytest.raises(SourceUnavailableError) as caught:
            await source.accounts_by_customer(["cus_0001"])
        assert caught.value.error_type == "Loyalty:Unavailable"
        assert not await source.ping()


# --- migrations -----------------------------------------------------------------------------


async def schema_versions(dsn: str) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
    finally:
        await conn.close()
    return [(r["version"], r["name"], r["checksum"]) for r in rows]


async def test_migrations_are_applied_once_and_a_second_start_is_a_no_op(
    fresh_dsn: str, make_loyalty_settings: SettingsFor
) -> None:
    settings = make_loyalty_settings(fresh_dsn)
    files = load_migrations(LOYALTY_MIGRATIONS)

    first = await apply_migrations(settings)
    second = await apply_migrations(settings)

    assert [m.version for m in files] == [1, 2]
    assert first == files
    assert second == ()
    assert await schema_versions(fresh_dsn) == [(m.version, m.name, m.checksum) for m in files]


async def test_concurrent_starters_apply_each_migration_once(
    fresh_dsn: str, make_loyalty_settings: SettingsFor
) -> None:
    settings = make_loyalty_settings(fresh_dsn)

    applied = await asyncio.gather(*(apply_migrations(settings) for _ in range(8)))

    assert sorted(m.version for batch in applied for m in batch) == [1, 2]
    assert [v for v, _, _ in await schema_versions(fresh_dsn)] == [1, 2]


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    target.mkdir()
    for entry in LOYALTY_MIGRATIONS.iterdir():
        if entry.name.endswith(".sql"):
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


async def test_a_changed_applied_migration_refuses_to_start(
    fresh_dsn: str, migrations_dir: Path, make_loyalty_settings: SettingsFor
) -> None:
    settings = make_loyalty_settings(fresh_dsn)
    await apply_migrations(settings, load_migrations(migrations_dir))
    first = migrations_dir / "0001_accounts_and_ledger.sql"
    first.write_text(first.read_text() + "\n-- tweaked after release\n")

    with pytest.raises(MigrationChecksumError, match=r"0001_accounts_and_ledger\.sql"):
        await apply_migrations(settings, load_migrations(migrations_dir))


async def test_a_new_migration_file_is_applied_at_the_next_start(
    fresh_dsn: str, migrations_dir: Path, make_loyalty_settings: SettingsFor
) -> None:
    settings = make_loyalty_settings(fresh_dsn)
    await apply_migrations(settings, load_migrations(migrations_dir))
    (migrations_dir / "0003_account_email_opt_in.sql").write_text(
        "ALTER TABLE loyalty.account ADD COLUMN email_opt_in boolean NOT NULL DEFAULT false;\n"
    )

    applied = await apply_migrations(settings, load_migrations(migrations_dir))

    assert [m.version for m in applied] == [3]


async def test_a_failing_migration_rolls_back_and_is_not_recorded(
    fresh_dsn: str, migrations_dir: Path, make_loyalty_settings: SettingsFor
) -> None:
    settings = make_loyalty_settings(fresh_dsn)
    (migrations_dir / "0003_broken.sql").write_text(
        "CREATE TABLE loyalty.half_done (id int);\nSELECT no_such_function();\n"
    )

    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(settings, load_migrations(migrations_dir))

    assert [v for v, _, _ in await schema_versions(fresh_dsn)] == [1, 2]
    (migrations_dir / "0003_broken.sql").unlink()
    shutil.copy(migrations_dir / "0002_redemptions.sql", migrations_dir / "0002_twice.sql")
    with pytest.raises(MigrationError, match="share version 0002"):
        load_migrations(migrations_dir)


# --- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (asyncpg.SerializationError("could not serialize access"), TransactionConflictError),
        (asyncpg.DeadlockDetectedError("deadlock detected"), TransactionConflictError),
        (
            asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
            SourceTimeoutError,
        ),
        (asyncpg.LockNotAvailableError("could not obtain lock"), SourceTimeoutError),
        (TimeoutError(), SourceTimeoutError),
        (ConnectionRefusedError(111, "Connection refused"), SourceUnavailableError),
        (asyncpg.AdminShutdownError("terminating connection"), SourceUnavailableError),
        (
            asyncpg.CannotConnectNowError("the database system is starting up"),
            SourceUnavailableError,
        ),
        (asyncpg.TooManyConnectionsError("too many clients"), SourceUnavailableError),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), SourceUnavailableError),
        (asyncpg.InterfaceError("connection is closed"), SourceUnavailableError),
    ],
)
def test_driver_failures_map_to_loyalty_errors(
    raised: BaseException, expected: type[SourceError]
) -> None:
    error = translate(raised)

    assert type(error) is expected
    assert error.source == SOURCE


async def test_a_transaction_conflict_is_retried_and_does_not_move_the_breaker() -> None:
    resilience = Resilience(SOURCE, Policy(retries=2, failure_threshold=1, backoff_base_seconds=0))
    tries = 0

    async def conflicted_once() -> str:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise translate(asyncpg.SerializationError("could not serialize access"))
        return "ok"

    assert await resilience.call(conflicted_once, idempotent=True) == "ok"
    assert (tries, resilience.metrics.breaker_state) == (2, BreakerState.CLOSED)


# --- faults (a server of their own) -----------------------------------------------------------


@pytest.fixture(scope="module")
def fault_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture
def own_server(fault_server: PostgresServer) -> PostgresServer:
    """A server only the fault tests stop and slow down; running when a test starts."""
    if not fault_server.running:
        fault_server.start()
    return fault_server


async def test_a_stopped_database_opens_the_breaker_and_a_probe_closes_it_after_restart(
    own_server: PostgresServer,
    make_loyalty_settings: SettingsFor,
) -> None:
    # given a source whose breaker opens after 3 failures and probes after 30 s (fake clock)
    now = [0.0]
    settings = make_loyalty_settings(
        own_server.dsn, timeout_seconds=2.0, failure_threshold=3, reset_seconds=30.0, retries=0
    )
    resilience = Resilience(SOURCE, settings.policy(), clock=lambda: now[0])
    async with open_loyalty(settings, embedded=False, resilience=resilience) as source:
        assert isinstance(source, PostgresLoyaltySource)
        customer_id = await member(source, points=100)

        # when the database goes away
        await asyncio.to_thread(own_server.stop)

        # then calls fail as Unavailable until the breaker opens, then fail fast uncalled
        for _ in range(3):
            with pytest.raises(SourceUnavailableError) as caught:
                await source.accounts_by_customer([customer_id])
            assert caught.value.error_type == "Loyalty:Unavailable"
        assert resilience.metrics.breaker_state is BreakerState.OPEN
        attempts, round_trips = resilience.metrics.attempts, source.round_trips
        for _ in range(5):
            with pytest.raises(CircuitOpenError) as open_:
                await source.redeem(order_id=new_id("ord"), customer_id=customer_id, points=1)
            assert open_.value.error_type == "Loyalty:CircuitOpen"
        assert (resilience.metrics.attempts, source.round_trips) == (attempts, round_trips)

        # and once it is back and the cool-down is over, the probe closes the breaker
        await asyncio.to_thread(own_server.start)
        now[0] += 30.0
        assert await balance(source, customer_id) == 100
        assert resilience.metrics.breaker_state is BreakerState.CLOSED


@pytest.mark.parametrize("who", ["resilience", "asyncpg"])
async def test_a_row_lock_held_elsewhere_times_the_redemption_out_and_rolls_it_back(
    own_server: PostgresServer, who: str, make_loyalty_settings: SettingsFor
) -> None:
    """`resilience`: our per-attempt timeout cancels the call; `asyncpg`: the driver's
    command_timeout and the server's statement_timeout fire first (Resilience waits longer)."""
    settings = make_loyalty_settings(own_server.dsn, timeout_seconds=0.3, retries=0)
    resilience = Resilience(
        SOURCE, settings.policy() if who == "resilience" else Policy(timeout_seconds=5.0)
    )
    async with open_loyalty(settings, embedded=False, resilience=resilience) as source:
        assert isinstance(source, PostgresLoyaltySource)
        customer_id = await member(source, points=100)
        order_id = new_id("ord")
        holder = await asyncpg.connect(own_server.dsn)
        try:
            # given a back-office session holding the account row
            async with holder.transaction():
                await holder.execute(
                    "SELECT 1 FROM loyalty.account WHERE customer_id = $1 FOR UPDATE", customer_id
                )

                # when / then
                with pytest.raises(SourceTimeoutError) as caught:
                    await source.redeem(order_id=order_id, customer_id=customer_id, points=40)
                assert caught.value.error_type == "Loyalty:Timeout"
                # Resilience words its own timeout "did not answer within ...".
                assert ("within" in caught.value.message) is (who == "resilience")
        finally:
            await holder.close()

        # the timed-out transaction was rolled back: the order redeems normally, once
        record = await source.redeem(order_id=order_id, customer_id=customer_id, points=40)
        assert record.status is RedemptionStatus.REDEEMED
        assert await balance(source, customer_id) == 60


async def test_a_slow_network_is_a_timeout_and_a_reset_is_unavailable(
    own_server: PostgresServer,
    make_loyalty_settings: SettingsFor,
) -> None:
    with TcpProxy("127.0.0.1", own_server.port) as proxy:
        dsn = own_server.dsn.replace(f":{own_server.port}/", f":{proxy.port}/")
        settings = make_loyalty_settings(dsn, timeout_seconds=0.3, retries=0)
        async with open_loyalty(settings, embedded=False) as source:
            assert isinstance(source, PostgresLoyaltySource)
            customer_id = await member(source, points=100)

            proxy.delay(1.0)
            with pytest.raises(SourceTimeoutError):
                await source.accounts_by_customer([customer_id])

            proxy.reset()
            with pytest.raises(SourceUnavailableError):
                await source.accounts_by_customer([customer_id])

            proxy.heal()
            assert await balance(source, customer_id) == 100


async def test_waiting_too_long_for_a_pooled_connection_is_a_timeout(
    own_server: PostgresServer,
    make_loyalty_settings: SettingsFor,
) -> None:
    # given a pool of one connection, busy with a redemption stuck on a row lock
    settings = make_loyalty_settings(
        own_server.dsn, timeout_seconds=2.0, pool_max_size=1, retries=0
    )
    await apply_migrations(settings)
    pool = await create_loyalty_pool(settings)
    try:
        source = PostgresLoyaltySource(
            pool,
            Resilience(SOURCE, Policy(timeout_seconds=5.0, max_concurrency=8)),
            acquire_timeout_seconds=0.2,
        )
        customer_id = await member(source, points=100)
        holder = await asyncpg.connect(own_server.dsn)
        try:
            async with holder.transaction():
                await holder.execute(
                    "SELECT 1 FROM loyalty.account WHERE customer_id = $1 FOR UPDATE", customer_id
                )
                stuck = asyncio.create_task(
                    source.redeem(order_id=new_id("ord"), customer_id=customer_id, points=1)
                )
                await asyncio.sleep(0.1)

                # when / then
                with pytest.raises(SourceTimeoutError):
                    await source.accounts_by_customer([customer_id])
        finally:
            await holder.close()
        assert (await stuck).status is RedemptionStatus.REDEEMED
    finally:
        await pool.close()
