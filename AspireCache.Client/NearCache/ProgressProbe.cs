using System.Diagnostics;

namespace AspireCache.Client.NearCache;

/// <summary>
/// Shared progress requests (<c>POST /cache/watch/{stream}/progress</c>): the node answers with a
/// revision it confirmed with the leader in a read-index round that began after the request arrived,
/// so that revision covers every write acknowledged before the request was sent.
/// </summary>
/// <remarks>
/// A read may use a probe only if the probe was sent after the read began. Reads join the pending
/// probe; it is taken out and sent under the lock, so every read that joined it began before it was
/// sent, and a read that begins later joins the next one. At most one probe is in flight: any
/// number of concurrent reads cost one small round trip per round-trip time.
/// </remarks>
internal sealed class ProgressProbe(Func<CancellationToken, Task<long?>> send, CancellationToken stopping)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource<Probe>? _pending;
    private bool _inFlight;

    /// <summary>A probe's answer: the revision (null if the request failed) and when the probe was sent.</summary>
    internal readonly record struct Probe(long? Revision, long SentAt);

    /// <summary>Progress requests sent (for the metric).</summary>
    public long Sent;

    /// <summary>The next probe sent after this call.</summary>
    public Task<Probe> NextAsync()
    {
        lock (_gate)
        {
            _pending ??= new TaskCompletionSource<Probe>(TaskCreationOptions.RunContinuationsAsynchronously);
            var task = _pending.Task;
            if (!_inFlight)
            {
                _inFlight = true;
                _ = Task.Run(PumpAsync, CancellationToken.None);
            }

            return task;
        }
    }

    private async Task PumpAsync()
    {
        while (true)
        {
            TaskCompletionSource<Probe> waiting;
            lock (_gate)
            {
                if (_pending is null)
                {
                    _inFlight = false;
                    return;
                }

                waiting = _pending;
                _pending = null;
            }

            var sentAt = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref Sent);
            long? revision;
            try
            {
                revision = stopping.IsCancellationRequested ? null : await send(stopping).ConfigureAwait(false);
            }
            catch (Exception)
            {
                revision = null;
            }

            waiting.TrySetResult(new Probe(revision, sentAt));
        }
    }
}
