using System.Diagnostics.Metrics;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Wakes <see cref="DurableAppendMiddleware"/> when DotNext's WAL has flushed, without waiting on
/// the WAL itself (see <see cref="WalFlushProbe"/> for why). DotNext records its
/// <c>entries-flush-duration</c> measurement right after a flush has advanced the flushed index and
/// written the checkpoint; a <see cref="MeterListener"/> turns each one into a pulse. Waiters re-read
/// the flushed index after every pulse (a pulse may come from another WAL in the process), and poll
/// on a short timeout in case a pulse is missed.
/// </summary>
internal static class WalFlushSignal
{
    private const string MeterName = "DotNext.IO.WriteAheadLog";
    private const string FlushDuration = "entries-flush-duration";

    private static TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static readonly MeterListener Listener = Start();

    /// <summary>Completes at the next flush (take it before re-reading the flushed index, so no flush is missed).</summary>
    public static Task Next
    {
        get
        {
            _ = Listener;
            return Volatile.Read(ref _next).Task;
        }
    }

    /// <summary>
    /// Waits until every entry of <paramref name="wal"/> up to <paramref name="index"/> is flushed and in the checkpoint:
    /// <paramref name="unflushedIndex"/> (a <see cref="WalFlushProbe"/>) passes it. Woken by each flush; the short
    /// timeout only covers a missed pulse.
    /// </summary>
    public static async Task WaitUntilDurableAsync(DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog wal, Func<DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog, long> unflushedIndex, long index, CancellationToken token)
    {
        while (true)
        {
            var flushed = Next; // taken before the check: a flush in between still wakes us
            if (unflushedIndex(wal) > index)
            {
                return;
            }

            await flushed.WaitAsync(TimeSpan.FromMilliseconds(5), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            token.ThrowIfCancellationRequested();
        }
    }

    private static MeterListener Start()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = static (instrument, l) =>
            {
                if (instrument.Meter.Name == MeterName && instrument.Name == FlushDuration)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => Pulse());
        listener.Start();
        return listener;
    }

    private static void Pulse() =>
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
