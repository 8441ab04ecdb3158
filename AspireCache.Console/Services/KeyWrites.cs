using AspireCache.Client;
using AspireCache.Console.Diagnostics;

namespace AspireCache.Console.Services;

/// <summary>
/// A write the cluster refused because the key is no longer as the operator saw it: what they wanted
/// (<see cref="Mine"/>; null for a delete) beside what is there now (<see cref="Current"/>; null when
/// the key is gone). Nothing was written.
/// </summary>
public sealed record EditConflict(string Key, ReadOnlyMemory<byte>? Mine, long ShownVersion, KeyDetails? Current);

/// <summary>The result of a save or delete: the new version, a conflict, or an error to show.</summary>
public sealed record WriteOutcome(long? Version, EditConflict? Conflict, string? Error)
{
    public bool Succeeded => Conflict is null && Error is null;
}

/// <summary>A save from the editor: the value, the version it was edited from (null: a new key), TTL and pin.</summary>
public sealed record SaveRequest(string Key, ReadOnlyMemory<byte> Value, long? ShownVersion, TimeSpan? Ttl, bool Pin);

/// <summary>
/// The console's writes of one key, always conditional: an update is a compare-and-set on the
/// version the operator saw (<c>If-Match</c>), a creation is create-only (<c>If-None-Match: *</c>),
/// a delete names the version. A refused condition becomes an <see cref="EditConflict"/> holding
/// both values; the console never retries it unconditionally.
/// </summary>
public sealed class KeyWrites(ConsoleTelemetry telemetry, ILogger<KeyWrites> logger)
{
    public async Task<WriteOutcome> SaveAsync(IAspireCacheClient client, IClusterApi cluster, SaveRequest request, CancellationToken cancellationToken = default)
    {
        var options = new SetOptions { Ttl = request.Ttl, Pin = request.Pin };
        if (request.ShownVersion is { } shown)
        {
            options.IfVersion = shown;
        }
        else
        {
            options.IfAbsent = true;
        }

        try
        {
            return new WriteOutcome(await client.SetAsync(request.Key, request.Value, options, cancellationToken), null, null);
        }
        catch (PreconditionFailedException ex)
        {
            ConsoleLog.Conflict(logger, request.Key, ex.CurrentVersion, request.ShownVersion ?? 0);
            telemetry.Conflict("save");
            return new WriteOutcome(null, new EditConflict(request.Key, request.Value, request.ShownVersion ?? 0, await cluster.GetKeyAsync(request.Key, cancellationToken)), null);
        }
        catch (AspireCacheException ex)
        {
            return new WriteOutcome(null, null, Explain(ex));
        }
    }

    /// <summary>Deletes the key if it is still at <paramref name="shownVersion"/>.</summary>
    public async Task<WriteOutcome> DeleteAsync(IAspireCacheClient client, IClusterApi cluster, string key, long shownVersion, CancellationToken cancellationToken = default)
    {
        try
        {
            if (await client.DeleteAsync(key, shownVersion, cancellationToken: cancellationToken))
            {
                return new WriteOutcome(shownVersion, null, null);
            }

            // 404: someone deleted it (or it expired) meanwhile.
            telemetry.Conflict("delete");
            return new WriteOutcome(null, new EditConflict(key, null, shownVersion, null), null);
        }
        catch (PreconditionFailedException ex)
        {
            ConsoleLog.Conflict(logger, key, ex.CurrentVersion, shownVersion);
            telemetry.Conflict("delete");
            return new WriteOutcome(null, new EditConflict(key, null, shownVersion, await cluster.GetKeyAsync(key, cancellationToken)), null);
        }
        catch (AspireCacheException ex)
        {
            return new WriteOutcome(null, null, Explain(ex));
        }
    }

    /// <summary>An error as an operator should read it.</summary>
    public static string Explain(AspireCacheException ex) => ex switch
    {
        { Status: 403 } => "Your credential may not do this: it lacks the scope (write) or the key is outside its prefixes. " + ex.Detail,
        { Status: 401 } => "The cluster no longer accepts your key (revoked or rotated). Sign in again.",
        TooLargeException => "Too large for the nodes: " + (ex.Detail ?? ex.Message),
        InvalidKeyException => "The nodes refuse this key: " + (ex.Detail ?? ex.Message),
        OutcomeUnknownException => "The cluster did not confirm the write in time: it may or may not have been applied. Reload the key to see which.",
        UnavailableException => "The cluster is unavailable (no leader, or overloaded). Nothing was written; try again shortly.",
        RateLimitedException => "Your credential is over its rate limit. Try again in a moment.",
        _ => ex.Message,
    };
}
