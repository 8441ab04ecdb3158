using System.Collections.Concurrent;
using System.Globalization;
using AspireCache.Node.Diagnostics;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client (the leader's side): a new leader's first AppendEntries to a member in its
/// term, when it names an entry of that very term as the preceding one, is answered "Rejected" here
/// instead of crossing the network, so the round that carries the term's no-op leaves at once.
/// <para>
/// Why: DotNext's candidate appends its term's no-op before it leads, and its leader starts every member at
/// Raft's initial nextIndex (its last index + 1), so the first AppendEntries to each follower names the
/// no-op (or a later entry of the new term) as the preceding entry. No follower can hold an entry of a term
/// before that term's leader sent it one: the refusal is certain. On a loaded 2-core box it came back
/// 30–60 ms later (bench/README.md, session 16), all of it on a failover's critical path, since the
/// no-op commits only in the round after the refusal.
/// </para>
/// <para>
/// The local answer gives, as the follower's last index, the entry before the term's first one (the log
/// is walked back over the term's entries, none of them committed yet), so DotNext's next round starts at
/// the no-op. Safe: Raft works with any nextIndex (the follower checks the preceding entry, and a wrong
/// guess costs a refusal); the answer carries the leader's own term, so it deposes no one; it counts as
/// a contact, never as replication, so nothing commits on it and no read index is confirmed by it (a new
/// leader confirms reads only once its no-op committed, which takes real acknowledgements from a majority).
/// Only a member's first message of a term qualifies (<see cref="FirstAppends"/>, a singleton, since
/// HttpClientFactory recycles handlers), so it never stands in for a contact later in the term.
/// </para>
/// </summary>
internal sealed class FirstAppendHandler(FirstAppends firstAppends, IPersistentState log, IOptions<ClusterOptions> options, NodeTelemetry telemetry, ILogger<FirstAppendHandler> logger) : DelegatingHandler
{
    private readonly bool _enabled = options.Value.AnswerFirstAppendLocally;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_enabled && RaftWire.Is(request, RaftWire.AppendEntries)
            && TryHeader(request, RaftWire.TermHeader, out var term)
            && TryHeader(request, RaftWire.PrecedingTermHeader, out var precedingTerm)
            && TryHeader(request, RaftWire.PrecedingIndexHeader, out var preceding))
        {
            var member = request.RequestUri!.Authority;
            if (precedingTerm == term && firstAppends.IsFirst(member, term))
            {
                var lastIndex = await BeforeTermAsync(preceding, term, cancellationToken).ConfigureAwait(false);
                NodeLog.FirstAppendAnsweredLocally(logger, member, term, preceding, lastIndex);
                telemetry.FirstAppendAnswered();
                var refused = new HttpResponseMessage(System.Net.HttpStatusCode.OK)
                {
                    RequestMessage = request,
                    Content = new StringContent(nameof(HeartbeatResult.Rejected)),
                };
                refused.Headers.Add(RaftWire.TermHeader, term.ToString(CultureInfo.InvariantCulture));
                refused.Headers.Add(RaftWire.LastIndexHeader, lastIndex.ToString(CultureInfo.InvariantCulture));
                return refused;
            }

            firstAppends.Sent(member, term);
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The index before the first entry of <paramref name="term"/> at or below <paramref name="index"/> (not below the commit index).</summary>
    private async ValueTask<long> BeforeTermAsync(long index, long term, CancellationToken token)
    {
        var committed = log.LastCommittedEntryIndex;
        while (index > committed && await LogTerms.TermAtAsync(log, index, token).ConfigureAwait(false) == term)
        {
            index--;
        }

        return index;
    }

    private static bool TryHeader(HttpRequestMessage request, string name, out long value)
    {
        value = 0;
        return request.Headers.NonValidated.TryGetValues(name, out var values) && values.Count == 1
            && long.TryParse(values.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }
}

/// <summary>Per member, the latest term in which this node sent it an AppendEntries (see <see cref="FirstAppendHandler"/>). One entry per peer.</summary>
internal sealed class FirstAppends
{
    private readonly ConcurrentDictionary<string, long> _sentIn = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether no AppendEntries of <paramref name="term"/> went to <paramref name="member"/> yet.</summary>
    public bool IsFirst(string member, long term) => !_sentIn.TryGetValue(member, out var sent) || sent < term;

    /// <summary>Records that an AppendEntries of <paramref name="term"/> is on its way to <paramref name="member"/>.</summary>
    public void Sent(string member, long term)
    {
        if (!_sentIn.TryGetValue(member, out var sent) || sent < term)
        {
            _sentIn.AddOrUpdate(member, term, (_, current) => Math.Max(current, term));
        }
    }
}
