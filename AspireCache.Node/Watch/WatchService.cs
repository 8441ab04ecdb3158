using AspireCache.Node.Raft;

namespace AspireCache.Node.Watch;

/// <summary>
/// Where watch meets the read path: a revision the current leader vouches for. A read index
/// (confirmed by a quorum round that started after the caller asked), applied here and dispatched
/// to every stream; many callers share one round (<see cref="RoundBatcher{T}"/>). A node cut off from
/// the leader gets none (<see cref="ClusterUnavailableException"/>), so it never sends progress.
/// </summary>
public sealed class WatchService
{
    private readonly WatchHub _hub;
    private readonly ReadIndexService _readIndex;
    private readonly RoundBatcher<long> _rounds;

    public WatchService(WatchHub hub, ReadIndexService readIndex)
    {
        _hub = hub;
        _readIndex = readIndex;
        _rounds = new RoundBatcher<long>(ConfirmRoundAsync);
    }

    public WatchHub Hub => _hub;

    /// <summary>
    /// A revision R such that every write acknowledged before this call is ≤ R, R is applied here,
    /// and every change up to R has been handed to the streams.
    /// </summary>
    public Task<long> ConfirmRevisionAsync(CancellationToken token) => _rounds.JoinAsync(token);

    private async Task<long> ConfirmRoundAsync(CancellationToken token)
    {
        await _readIndex.EnsureLinearizableAsync(token);
        var revision = _hub.HeadRevision;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _hub.WaitDispatchedAsync(revision, timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // Never a 500: the streams could not be brought up to the confirmed revision in time.
            throw new ClusterUnavailableException(UnavailableReason.Timeout, $"Revision {revision} was applied but not handed to the watch streams within 5 s.");
        }

        return revision;
    }
}
