using AspireCache.Client;
using AspireCache.Console.Editing;
using AspireCache.Console.Services;

namespace AspireCache.Console.Sessions;

/// <summary>
/// One signed-in operator, kept on the server only. The operator's key lives inside
/// <see cref="Client"/> and <see cref="Cluster"/> (it is never a property here, so no page can show it);
/// every cluster call of the session goes through them, so the cluster records the operator's
/// credential as the writer of every change they make.
/// </summary>
public sealed class OperatorSession
{
    private long _lastSeenTicks;

    public OperatorSession(string id, string fingerprint, IAspireCacheClient client, IClusterApi cluster, DateTimeOffset createdAt)
    {
        Id = id;
        Fingerprint = fingerprint;
        Client = client;
        Cluster = cluster;
        CreatedAt = createdAt;
        _lastSeenTicks = createdAt.UtcTicks;
    }

    /// <summary>The session's id: the SHA-256 of its cookie's token (base64url). The token itself is only in the browser's cookie.</summary>
    public string Id { get; }

    /// <summary>The first 8 hex digits of the key's SHA-256: enough to tell two keys apart on screen and in logs, useless to an attacker.</summary>
    public string Fingerprint { get; }

    /// <summary>The operator's client (their key as <c>Authorization: Bearer</c> on every call).</summary>
    public IAspireCacheClient Client { get; }

    /// <summary>The calls the client does not offer, with the same key.</summary>
    public IClusterApi Cluster { get; }

    /// <summary>Changes staged for one atomic publish.</summary>
    public StagingArea Staging { get; } = new();

    public DateTimeOffset CreatedAt { get; }

    /// <summary>The last request or page action of the session.</summary>
    public DateTimeOffset LastSeen => new(Interlocked.Read(ref _lastSeenTicks), TimeSpan.Zero);

    internal void Touch(DateTimeOffset now) => Interlocked.Exchange(ref _lastSeenTicks, now.UtcTicks);
}
