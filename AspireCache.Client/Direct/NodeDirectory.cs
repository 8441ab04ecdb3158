using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using AspireCache.Contracts;

namespace AspireCache.Client.Direct;

/// <summary>
/// Direct mode (<see cref="AspireCacheClientOptions.Nodes"/>): the client talks to the nodes
/// themselves, with no router hop. It learns the leader from <c>/cluster/watch</c> (a long poll that
/// answers as soon as the leader or term changes) and measures each node's round trip with
/// <c>/cluster/status</c>; writes go to the leader, linearizable reads to the leader too (unless
/// <see cref="AspireCacheClientOptions.LinearizableReadsToLeader"/> is off), and stale reads and
/// watches to the nearest healthy node.
/// A node that refuses a connection or answers 503 is avoided for a few seconds.
/// </summary>
/// <remarks>
/// Nothing here decides correctness: every node serves linearizable reads (ReadIndex), and a write
/// sent to a follower is answered 421 with the leader's URL, which the call then follows. The
/// directory only saves the hop and the retries.
/// </remarks>
internal sealed class NodeDirectory : IAsyncDisposable
{
    private static readonly TimeSpan Avoid = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Remeasure = TimeSpan.FromSeconds(30);

    private readonly Func<HttpClient> _http;
    private readonly string? _credential;
    private readonly Uri[] _nodes;
    private readonly long[] _avoidUntil;
    private readonly double[] _rttMs;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _follower;
    private volatile Uri? _leader;
    private volatile Uri _nearest;

    public NodeDirectory(Func<HttpClient> http, IEnumerable<Uri> nodes, string? credential = null)
    {
        _http = http;
        _credential = credential is { Length: > 0 } ? credential : null;
        _nodes = [.. nodes.Select(n => n.AbsoluteUri.EndsWith('/') ? n : new Uri(n.AbsoluteUri + "/"))];
        if (_nodes.Length == 0)
        {
            throw new ArgumentException("Direct mode needs at least one node URL.", nameof(nodes));
        }

        _avoidUntil = new long[_nodes.Length];
        _rttMs = Enumerable.Repeat(double.MaxValue, _nodes.Length).ToArray();
        _nearest = _nodes[0];
        _follower = Task.Run(FollowAsync);
    }

    /// <summary>The nodes as configured.</summary>
    public IReadOnlyList<Uri> Nodes => _nodes;

    /// <summary>The leader's client-facing URL, once known.</summary>
    public Uri? Leader => _leader;

    /// <summary>
    /// Where a call goes: writes to the leader (else the nearest node, which answers 421 with it);
    /// linearizable reads to the healthy leader too when <paramref name="linearizableRead"/> (a follower
    /// asks the leader for every read index anyway); everything else to the nearest healthy node.
    /// </summary>
    public Uri Target(bool write, bool linearizableRead = false) =>
        (write || linearizableRead) && _leader is { } leader && !Avoided(IndexOf(leader)) ? leader : _nearest;

    /// <summary>The node refused a connection or answered 503: try the others for a while.</summary>
    public void Failed(Uri node)
    {
        var i = IndexOf(node);
        if (i >= 0)
        {
            Volatile.Write(ref _avoidUntil[i], Stopwatch.GetTimestamp() + (long)(Avoid.TotalSeconds * Stopwatch.Frequency));
        }

        if (_leader is { } leader && SameNode(leader, node))
        {
            _leader = null;
        }

        PickNearest();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _follower.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private bool Avoided(int i) => i >= 0 && Volatile.Read(ref _avoidUntil[i]) > Stopwatch.GetTimestamp();

    private int IndexOf(Uri node)
    {
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (SameNode(_nodes[i], node))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool SameNode(Uri a, Uri b) =>
        string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port && a.Scheme == b.Scheme;

    private void PickNearest()
    {
        var best = -1;
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (!Avoided(i) && (best < 0 || _rttMs[i] < _rttMs[best]))
            {
                best = i;
            }
        }

        // Everyone avoided: keep trying them in turn rather than none.
        _nearest = best >= 0 ? _nodes[best] : _nodes[Random.Shared.Next(_nodes.Length)];
    }

    private async Task MeasureAsync(CancellationToken token)
    {
        await Task.WhenAll(_nodes.Select(async (node, i) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
                deadline.CancelAfter(TimeSpan.FromSeconds(2));
                var status = await GetStatusAsync(new Uri(node, CachePaths.ClusterStatus.TrimStart('/')), deadline.Token).ConfigureAwait(false);
                _rttMs[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (status?.LeaderUrl is { } leader)
                {
                    _leader ??= leader;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException || (ex is OperationCanceledException && !token.IsCancellationRequested))
            {
                _rttMs[i] = double.MaxValue;
            }
        })).ConfigureAwait(false);
        PickNearest();
    }

    /// <summary><c>/cluster/status</c> or <c>/cluster/watch</c> of a node, with the client's credential (both need the read scope).</summary>
    private async Task<ClusterStatusResponse?> GetStatusAsync(Uri url, CancellationToken token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (_credential is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _credential);
        }

        using var response = await _http().SendAsync(request, token).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ClusterStatusResponse, token).ConfigureAwait(false);
    }

    /// <summary>Long-polls <c>/cluster/watch</c> on one node after another; re-measures round trips now and then.</summary>
    private async Task FollowAsync()
    {
        var token = _stopping.Token;
        long term = 0;
        string? leaderId = null;
        var node = 0;
        var nextMeasure = 0L;
        while (!token.IsCancellationRequested)
        {
            if (Stopwatch.GetTimestamp() >= nextMeasure)
            {
                await MeasureAsync(token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                nextMeasure = Stopwatch.GetTimestamp() + (long)(Remeasure.TotalSeconds * Stopwatch.Frequency);
            }

            // Knowing no leader, wait briefly: a node that knows none either (an election, or it is cut
            // off) answers when one appears or after 250 ms, and the next ask goes to another node.
            var waitMs = leaderId is null ? 250 : 10_000;
            var url = new Uri(_nodes[node], string.Create(CultureInfo.InvariantCulture, $"cluster/watch?term={term}&leader={Uri.EscapeDataString(leaderId ?? "")}&waitMs={waitMs}"));
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
                deadline.CancelAfter(TimeSpan.FromSeconds(15));
                var status = await GetStatusAsync(url, deadline.Token).ConfigureAwait(false);
                if (status is null)
                {
                    continue;
                }

                term = status.Term;
                leaderId = status.LeaderId;
                _leader = status.LeaderUrl;
                if (status.LeaderUrl is null)
                {
                    // An election is on: ask again soon, elsewhere if this node stays leaderless.
                    node = (node + 1) % _nodes.Length;
                    await Task.Delay(50, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or OperationCanceledException)
            {
                Failed(_nodes[node]);
                node = (node + 1) % _nodes.Length;
                await Task.Delay(100, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
