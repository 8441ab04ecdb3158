using System.Collections.Concurrent;
using AspireCache.Client;

namespace AspireCache.Verification;

/// <summary>
/// The Jepsen-style client of the fault runs: one logical client that reads, writes, compare-and-sets and deletes a
/// few keys at random through AspireCache.Client until stopped, recording everything with <see cref="RecordingClient"/>.
/// Mix: 50 % linearizable reads, 30 % writes, 12 % CAS (expecting the version this client last read), 8 % deletes.
/// Written values are <c>c{client}-{n}</c>, unique per client.
/// </summary>
public static class HistoryWorkload
{
    /// <summary>The per-call deadline of <see cref="CreateClient"/>: every retry of one operation included (the old per-request timeout).</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(4);

    /// <summary>
    /// A client for a fault run over <paramref name="http"/> (BaseAddress = the router or one node): each operation
    /// may retry for <paramref name="deadline"/> (default <see cref="DefaultDeadline"/>). A write sent to a follower
    /// follows its 421 to the leader (as every AspireCache.Client does), with the same Idempotency-Key.
    /// With client authentication on, every request needs a key: <paramref name="credential"/> (sent as
    /// <c>Authorization: Bearer</c>), or one <paramref name="http"/> already sends (its default headers).
    /// </summary>
    public static IAspireCacheClient CreateClient(HttpClient http, TimeSpan? deadline = null, string? credential = null) =>
        new AspireCacheClient(http, new AspireCacheClientOptions { Deadline = deadline ?? DefaultDeadline, Credential = credential });

    /// <summary>
    /// Runs operations until <paramref name="stop"/> (checked between operations: an operation in flight ends on its
    /// own deadline, so none is cut short by the stop) or until <paramref name="maxOperations"/> were issued.
    /// </summary>
    /// <returns>How many operations were issued.</returns>
    public static async Task<int> RunAsync(
        int clientId,
        IAspireCacheClient client,
        IReadOnlyList<string> keys,
        HistoryRecorder history,
        OutcomeResolver? unknowns,
        CancellationToken stop,
        ConcurrentDictionary<string, string>? outcomes = null,
        int maxOperations = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            throw new ArgumentException("At least one key.", nameof(keys));
        }

        var recording = new RecordingClient(client, history, clientId, unknowns, outcomes);
        var random = new Random(clientId * 7919);
        var lastVersion = new Dictionary<string, long?>(StringComparer.Ordinal);
        var n = 0;
        var issued = 0;
        while (!stop.IsCancellationRequested && issued < maxOperations)
        {
            issued++;
            var key = keys[random.Next(keys.Count)];
            var roll = random.Next(100);
            if (roll < 50)
            {
                var read = await recording.ReadAsync(key).ConfigureAwait(false);
                if (read.As == RecordedAs.Known)
                {
                    lastVersion[key] = read.Value is null ? null : read.Version;
                }
            }
            else if (roll < 80)
            {
                await recording.WriteAsync(key, $"c{clientId}-{n++}").ConfigureAwait(false);
            }
            else if (roll < 92)
            {
                lastVersion.TryGetValue(key, out var expected);
                await recording.CompareAndSetAsync(key, expected, $"c{clientId}-{n++}").ConfigureAwait(false);
            }
            else
            {
                n++;
                await recording.DeleteAsync(key).ConfigureAwait(false);
            }
        }

        return issued;
    }
}
