using AspireCache.Console.Diagnostics;
using AspireCache.Console.Sessions;
using AspireCache.Console.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireCache.Console.Tests.Unit;

/// <summary>The server-side session table: opaque tokens, bounded, idle and absolute expiry.</summary>
public sealed class SessionStoreTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_token_finds_its_session_and_the_table_holds_only_its_hash()
    {
        var store = Store(new ConsoleSessionOptions());
        var (token, session) = store.Open(Create);

        Assert.Same(session, store.FindByToken(token));
        Assert.Equal(SessionStore.IdOf(token), session.Id);
        Assert.NotEqual(token, session.Id);
        Assert.True(token.Length >= 43); // 32 random bytes
        Assert.Null(store.FindByToken(token + "x"));
    }

    [Fact]
    public void A_session_unused_for_the_idle_timeout_ends_and_use_keeps_it_alive()
    {
        var store = Store(new ConsoleSessionOptions { IdleTimeout = TimeSpan.FromMinutes(30) });
        var (token, _) = store.Open(Create);

        _clock.Advance(TimeSpan.FromMinutes(20));
        Assert.NotNull(store.FindByToken(token)); // used: the idle clock restarts
        _clock.Advance(TimeSpan.FromMinutes(20));
        Assert.NotNull(store.FindByToken(token));
        _clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Null(store.FindByToken(token));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void A_session_ends_after_its_absolute_lifetime_however_active()
    {
        var store = Store(new ConsoleSessionOptions { IdleTimeout = TimeSpan.FromMinutes(30), AbsoluteLifetime = TimeSpan.FromHours(1) });
        var (token, session) = store.Open(Create);
        for (var i = 0; i < 5; i++)
        {
            _clock.Advance(TimeSpan.FromMinutes(15));
            store.Find(session.Id);
        }

        Assert.Null(store.FindByToken(token));
    }

    [Fact]
    public void A_full_table_ends_the_session_idle_the_longest()
    {
        var store = Store(new ConsoleSessionOptions { MaxSessions = 2 });
        var (first, _) = store.Open(Create);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var (second, _) = store.Open(Create);
        _clock.Advance(TimeSpan.FromSeconds(1));
        store.FindByToken(first); // first is now the more recently used

        var (third, _) = store.Open(Create);

        Assert.Equal(2, store.Count);
        Assert.NotNull(store.FindByToken(first));
        Assert.Null(store.FindByToken(second));
        Assert.NotNull(store.FindByToken(third));
    }

    [Fact]
    public void Sign_out_ends_the_session_for_every_page_of_it()
    {
        var store = Store(new ConsoleSessionOptions());
        var (token, session) = store.Open(Create);

        Assert.True(store.End(session.Id));

        Assert.False(store.IsActive(session.Id));
        Assert.Null(store.FindByToken(token));
        Assert.False(store.End(session.Id));
    }

    [Fact]
    public void A_sweep_removes_expired_sessions()
    {
        var store = Store(new ConsoleSessionOptions { IdleTimeout = TimeSpan.FromMinutes(1) });
        store.Open(Create);
        store.Open(Create);
        _clock.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal(2, store.Sweep());
        Assert.Equal(0, store.Count);
    }

    public void Dispose() => _services.Dispose();

    private SessionStore Store(ConsoleSessionOptions options) =>
        new(Microsoft.Extensions.Options.Options.Create(options), _clock, new ConsoleTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), NullLogger<SessionStore>.Instance);

    private OperatorSession Create(string id)
    {
        var cluster = new FakeCluster();
        return new OperatorSession(id, "abcd1234", cluster, cluster, _clock.GetUtcNow());
    }
}
