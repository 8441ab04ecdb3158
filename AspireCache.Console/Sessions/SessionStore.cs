using System.Security.Cryptography;
using System.Text;
using AspireCache.Console.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Sessions;

/// <summary>
/// The server-side session table: cookie token → <see cref="OperatorSession"/>. The table is keyed by
/// the token's SHA-256, so neither the table nor a claim holds anything a browser could replay. Bounded
/// (<see cref="ConsoleSessionOptions.MaxSessions"/>: a sign-in beyond it ends the session idle the longest),
/// with an idle timeout and an absolute lifetime, and measured
/// (<c>aspirecache.console.sessions.active</c>, <c>.sessions.ended{reason}</c>).
/// </summary>
internal sealed class SessionStore
{
    private readonly Dictionary<string, OperatorSession> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly ConsoleSessionOptions _options;
    private readonly TimeProvider _clock;
    private readonly ConsoleTelemetry _telemetry;
    private readonly ILogger<SessionStore> _logger;

    public SessionStore(IOptions<ConsoleSessionOptions> options, TimeProvider clock, ConsoleTelemetry telemetry, ILogger<SessionStore> logger)
    {
        _options = options.Value;
        _clock = clock;
        _telemetry = telemetry;
        _logger = logger;
        telemetry.ObserveSessions(() => Count, _options.MaxSessions);
    }

    /// <summary>Sessions in the table (ended ones until the next sweep).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Opens a session; returns the token for the cookie (shown to nobody else) and the session.</summary>
    /// <param name="create">Builds the session from its id (the token's hash).</param>
    public (string Token, OperatorSession Session) Open(Func<string, OperatorSession> create)
    {
        var token = WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));
        var session = create(IdOf(token));
        OperatorSession? evicted = null;
        lock (_lock)
        {
            if (_sessions.Count >= _options.MaxSessions)
            {
                SweepLocked(_clock.GetUtcNow());
            }

            if (_sessions.Count >= _options.MaxSessions)
            {
                evicted = _sessions.Values.MinBy(s => s.LastSeen);
                _sessions.Remove(evicted!.Id);
            }

            _sessions[session.Id] = session;
        }

        if (evicted is not null)
        {
            ConsoleLog.SessionTableFull(_logger, _options.MaxSessions);
            Ended(evicted, "evicted");
        }

        return (token, session);
    }

    /// <summary>The live session of a cookie's token, marked as used now; null if unknown or expired.</summary>
    public OperatorSession? FindByToken(string? token) => string.IsNullOrEmpty(token) ? null : Find(IdOf(token));

    /// <summary>The live session with this id (from the principal's claim), marked as used now; null if unknown or expired.</summary>
    public OperatorSession? Find(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return null;
        }

        var now = _clock.GetUtcNow();
        OperatorSession? expired = null;
        lock (_lock)
        {
            if (!_sessions.TryGetValue(id, out var session))
            {
                return null;
            }

            if (!IsExpired(session, now))
            {
                session.Touch(now);
                return session;
            }

            _sessions.Remove(id);
            expired = session;
        }

        Ended(expired, "expired");
        return null;
    }

    /// <summary>True while the session exists and has not expired (does not count as use).</summary>
    public bool IsActive(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return false;
        }

        lock (_lock)
        {
            return _sessions.TryGetValue(id, out var session) && !IsExpired(session, _clock.GetUtcNow());
        }
    }

    /// <summary>Ends a session (sign-out). False if it was not there.</summary>
    public bool End(string id)
    {
        OperatorSession? session;
        lock (_lock)
        {
            if (!_sessions.Remove(id, out session))
            {
                return false;
            }
        }

        Ended(session, "signed-out");
        return true;
    }

    /// <summary>Removes expired sessions; returns how many.</summary>
    public int Sweep()
    {
        List<OperatorSession> removed;
        lock (_lock)
        {
            removed = SweepLocked(_clock.GetUtcNow());
        }

        foreach (var session in removed)
        {
            Ended(session, "expired");
        }

        return removed.Count;
    }

    /// <summary>The id a token's session is filed under: base64url(SHA-256(token)).</summary>
    public static string IdOf(string token) => WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private List<OperatorSession> SweepLocked(DateTimeOffset now)
    {
        var removed = _sessions.Values.Where(s => IsExpired(s, now)).ToList();
        foreach (var session in removed)
        {
            _sessions.Remove(session.Id);
        }

        return removed;
    }

    private bool IsExpired(OperatorSession session, DateTimeOffset now) =>
        now - session.LastSeen >= _options.IdleTimeout || now - session.CreatedAt >= _options.AbsoluteLifetime;

    private void Ended(OperatorSession session, string reason)
    {
        _telemetry.SessionEnded(reason);
        ConsoleLog.SessionEnded(_logger, session.Fingerprint, reason);
        if (session.Client is IAsyncDisposable disposable)
        {
            _ = disposable.DisposeAsync().AsTask();
        }
    }
}
