using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AspireCache.Client;

namespace AspireCache.Verification;

/// <summary>How an operation entered the history.</summary>
public enum RecordedAs
{
    /// <summary>Its outcome is known (a read's value, a write's version, a failed CAS, a delete that found nothing...).</summary>
    Known,

    /// <summary>It certainly did not take effect (or, for a read, observed nothing): the checker never sees it.</summary>
    Discarded,

    /// <summary>It may or may not have taken effect, at any time after its invoke (the checker's "info" outcome).</summary>
    Unknown,
}

/// <summary>What <see cref="RecordingClient"/> recorded for one operation.</summary>
/// <param name="As">Known, discarded or unknown.</param>
/// <param name="Value">A known read's value (null: absent).</param>
/// <param name="Version">A known read's version, or the version a known write, CAS or batch created.</param>
/// <param name="Success">A known CAS: applied or not; a known delete: whether the key was found.</param>
public readonly record struct Recorded(RecordedAs As, string? Value = null, long? Version = null, bool? Success = null);

/// <summary>
/// Sends operations through AspireCache.Client (<see cref="IAspireCacheClient"/>) and records each one in a
/// <see cref="HistoryRecorder"/> with the outcome the client reported, mapped onto the checker's model
/// (<see cref="Operation"/>):
/// <list type="table">
/// <item><term>a value, a version, <c>true</c>/<c>false</c></term><description>known: a read's value and version (absent on 404),
/// a write's / CAS's / batch's new version, whether a delete found its key.</description></item>
/// <item><term><see cref="PreconditionFailedException"/> on a CAS</term><description>known failed CAS (a pure observer).</description></item>
/// <item><term><see cref="OutcomeUnknownException"/></term><description>unknown: it may take effect any time after its invoke
/// (the checker's "info" outcome). It goes to the <see cref="OutcomeResolver"/> with the Idempotency-Key every attempt
/// carried, to be learnt after the faults.</description></item>
/// <item><term><see cref="UnavailableException"/> on a mutation</term><description>discarded: the client throws it only
/// when no attempt can have been applied (no leader before proposing, a connection refused before a write's body went
/// out, 421 not-leader; a bodiless DELETE whose connection was refused is "unknown": the handler may have sent it on a
/// reused connection first). If the
/// client were wrong, a later read of the value would make the history a violation: the checker verifies that claim
/// too.</description></item>
/// <item><term>another <see cref="AspireCacheException"/> with a 4xx status</term><description>discarded (rejected, nothing written).</description></item>
/// <item><term>anything else on a mutation</term><description>unknown, and not resolvable (no Idempotency-Key known):
/// an honest "maybe" rather than a guess.</description></item>
/// <item><term>a read that failed in any way</term><description>discarded (it observed nothing).</description></item>
/// </list>
/// A call's retries (same Idempotency-Key, so applied at most once) all fall inside its one [invoke, complete]
/// interval. Values are UTF-8 strings in the history.
/// </summary>
/// <param name="client">The client (its deadline bounds each operation).</param>
/// <param name="history">Where the operations go.</param>
/// <param name="clientId">The logical client named in the history.</param>
/// <param name="unknowns">Collects unknown outcomes to resolve later; null to leave them unknown.</param>
/// <param name="outcomes">If given: written value → how its call ended (for a violation's report, see <see cref="HistoryRecorder.Dump"/>).</param>
public sealed class RecordingClient(
    IAspireCacheClient client,
    HistoryRecorder history,
    int clientId,
    OutcomeResolver? unknowns = null,
    ConcurrentDictionary<string, string>? outcomes = null)
{
    /// <summary>The underlying client.</summary>
    public IAspireCacheClient Client { get; } = client ?? throw new ArgumentNullException(nameof(client));

    /// <summary>The logical client named in the history.</summary>
    public int ClientId { get; } = clientId;

    private readonly HistoryRecorder _history = history ?? throw new ArgumentNullException(nameof(history));

    /// <summary>A read (linearizable unless <paramref name="options"/> says otherwise).</summary>
    public async Task<Recorded> ReadAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        var handle = _history.BeginRead(ClientId, key);
        try
        {
            var item = await Client.GetAsync(key, options, cancellationToken).ConfigureAwait(false);
            if (item is null)
            {
                _history.CompleteRead(handle, null, null);
                return new Recorded(RecordedAs.Known);
            }

            var value = Encoding.UTF8.GetString(item.Value.Span);
            long? version = item.Version > 0 ? item.Version : null; // 0: the answer had no ETag
            _history.CompleteRead(handle, value, version);
            return new Recorded(RecordedAs.Known, value, version);
        }
        catch (Exception ex) when (IsCallFailure(ex))
        {
            _history.Discard(handle); // a failed read observed nothing
            return new Recorded(RecordedAs.Discarded);
        }
    }

    /// <summary>An unconditional write of <paramref name="value"/>.</summary>
    public async Task<Recorded> WriteAsync(string key, string value, CancellationToken cancellationToken = default)
    {
        var handle = _history.BeginWrite(ClientId, key, value);
        try
        {
            var version = await Client.SetAsync(key, Encoding.UTF8.GetBytes(value), null, cancellationToken).ConfigureAwait(false);
            _history.CompleteWrite(handle, version);
            Trace(value, key, $"ok @{version}");
            return new Recorded(RecordedAs.Known, Version: version);
        }
        catch (Exception ex) when (IsCallFailure(ex))
        {
            return Failed(handle, ex, value, PendingMutation.Write(key, value));
        }
    }

    /// <summary>
    /// Compare-and-set: write <paramref name="value"/> only if the key is at <paramref name="expectedVersion"/>
    /// (<c>null</c>: only if it is absent).
    /// </summary>
    public async Task<Recorded> CompareAndSetAsync(string key, long? expectedVersion, string value, CancellationToken cancellationToken = default)
    {
        var handle = _history.BeginCompareAndSet(ClientId, key, expectedVersion, value);
        try
        {
            var options = expectedVersion is { } v ? new SetOptions { IfVersion = v } : new SetOptions { IfAbsent = true };
            var version = await Client.SetAsync(key, Encoding.UTF8.GetBytes(value), options, cancellationToken).ConfigureAwait(false);
            _history.CompleteCompareAndSet(handle, true, version);
            Trace(value, key, $"ok @{version}");
            return new Recorded(RecordedAs.Known, Version: version, Success: true);
        }
        catch (PreconditionFailedException ex)
        {
            _history.CompleteCompareAndSet(handle, false, null);
            Trace(value, key, "412 precondition failed" + (ex.CurrentVersion is { } current ? $" (current @{current})" : ""));
            return new Recorded(RecordedAs.Known, Success: false);
        }
        catch (Exception ex) when (IsCallFailure(ex))
        {
            return Failed(handle, ex, value, PendingMutation.CompareAndSet(key, expectedVersion, value));
        }
    }

    /// <summary>An unconditional delete.</summary>
    public async Task<Recorded> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var handle = _history.BeginDelete(ClientId, key);
        try
        {
            var found = await Client.DeleteAsync(key, null, null, cancellationToken).ConfigureAwait(false);
            _history.CompleteDelete(handle, found); // the client does not return the delete's revision: "some version"
            return new Recorded(RecordedAs.Known, Success: found);
        }
        catch (Exception ex) when (IsCallFailure(ex))
        {
            return Failed(handle, ex, null, PendingMutation.Delete(key));
        }
    }

    /// <summary>An atomic batch: every key of <paramref name="set"/> written and every key of <paramref name="delete"/> deleted, at one revision.</summary>
    public async Task<Recorded> BatchAsync(IReadOnlyDictionary<string, string>? set, IReadOnlyList<string>? delete, CancellationToken cancellationToken = default)
    {
        var handle = _history.BeginBatch(ClientId, set, delete);
        var sets = set?.ToDictionary(p => p.Key, p => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(p.Value), StringComparer.Ordinal);
        try
        {
            var version = await Client.BatchAsync(sets, delete, null, null, cancellationToken).ConfigureAwait(false);
            _history.CompleteBatch(handle, version);
            foreach (var (key, value) in set ?? new Dictionary<string, string>())
            {
                Trace(value, key, $"batch ok @{version}");
            }

            return new Recorded(RecordedAs.Known, Version: version);
        }
        catch (Exception ex) when (IsCallFailure(ex))
        {
            return Failed(handle, ex, set?.Values.FirstOrDefault(), PendingMutation.Batch(set, delete));
        }
    }

    /// <summary>What a failed mutation call means for the history (see the class remarks).</summary>
    private Recorded Failed(OperationHandle handle, Exception ex, string? value, PendingMutation mutation)
    {
        switch (ex)
        {
            case OutcomeUnknownException unknown:
                _history.CompleteUnknown(handle);
                unknowns?.Add(handle, mutation with { IdempotencyKey = unknown.IdempotencyKey });
                Trace(value, mutation.Key, $"outcome unknown (Idempotency-Key {unknown.IdempotencyKey}): {unknown.Message}");
                return new Recorded(RecordedAs.Unknown);

            case UnavailableException:
            case AspireCacheException { Status: >= 400 and < 500 }:
                _history.Discard(handle);
                Trace(value, mutation.Key, "not applied: " + ex.Message);
                return new Recorded(RecordedAs.Discarded);

            default:
                _history.CompleteUnknown(handle);
                Trace(value, mutation.Key, $"outcome unknown, unresolvable ({ex.GetType().Name}): {ex.Message}");
                return new Recorded(RecordedAs.Unknown);
        }
    }

    private void Trace(string? value, string key, string outcome)
    {
        if (outcomes is not null && value is not null)
        {
            outcomes[value] = string.Create(CultureInfo.InvariantCulture, $"{key}: {outcome} (client c{ClientId})");
        }
    }

    /// <summary>The ways a call can fail (anything else is a bug in the caller and propagates).</summary>
    private static bool IsCallFailure(Exception ex) =>
        ex is AspireCacheException or OperationCanceledException or HttpRequestException or IOException;
}
