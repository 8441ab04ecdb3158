using Microsoft.Extensions.Options;
using AspireCache.Node.Auth;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;
using AspireCache.Node.Api.OpenApi;
using JsonSchemaType = Microsoft.OpenApi.JsonSchemaType;

namespace AspireCache.Node.Api;

/// <summary>Cluster introspection and the node-to-node read-index endpoint.</summary>
public static class ClusterApi
{
    public const string NodeHeader = CacheHeaders.Node;
    public const string RoleHeader = CacheHeaders.Role;

    /// <summary>What every answer of this node carries: its id and its role at the time.</summary>
    public static void SetNodeHeaders(HttpResponse response, ClusterView cluster)
    {
        response.Headers[NodeHeader] = cluster.NodeId;
        response.Headers[RoleHeader] = cluster.Role;
    }

    public static IEndpointRouteBuilder MapClusterApi(this IEndpointRouteBuilder app)
    {
        var cluster = app.MapGroup("/cluster");
        // Client-facing reads (the router and direct-mode clients poll them): the read scope.
        cluster.MapGet("/status", GetStatus).RequireScope(Scope.Read).Documented(
            "GetClusterStatus", NodeApiTags.Cluster, "This node's view of the cluster",
            "Its role and term, the leader it knows, its commit, last and applied indexes, the state's revision, key count and size, its last snapshot, and the members. From this node's state: no leader needed.",
            doc => doc.Response(StatusCodes.Status200OK, "The node's status."));
        cluster.MapGet("/watch", WatchAsync).RequireScope(Scope.Read).Documented(
            "WatchClusterStatus", NodeApiTags.Cluster, "Wait for a leader change (long poll)",
            "Answers with the status as soon as the term, the leader or (when given) this node's role differs from what the caller knows (`term`, `leader`, `role`), or after `waitMs` (at most 30 s) with the unchanged status. A new leader's role turns to `leader` once its first entry is committed (it is then ready), after the leader change. A stopping node answers at once.",
            doc => doc
                .Query("term", "The term the caller knows.", JsonSchemaType.Integer, format: "int64")
                .Query("leader", "The leader id the caller knows (absent or empty: none).")
                .Query("role", "This node's role as the caller knows it (`leader` or `follower`; absent: not watched).")
                .Query("waitMs", "How long to wait, 0 to 30000 ms (default 30000; out of range is clamped).", JsonSchemaType.Integer)
                .Response(StatusCodes.Status200OK, "The node's status (changed, or after the wait).")
                .Problem(StatusCodes.Status400BadRequest, "A `term` or `waitMs` that is not one integer.", "invalid-request"));

        // Node to node: authenticated by the cluster secret (issue #13's other part), not by client
        // credentials, and served only on the peer endpoint: no part of the client API's document.
        cluster.MapPost("/read-index", ReadIndexAsync).ExcludeFromDescription();
        cluster.MapPost("/access", ReportAccess).ExcludeFromDescription();
        return app;
    }

    public static Ok<ClusterStatusResponse> GetStatus(ClusterView cluster, CacheStateMachine stateMachine, LeaderSilenceMonitor silence, IOptions<CacheLimitsOptions> limits)
    {
        var leader = cluster.Leader;
        var members = cluster.Members
            .OrderBy(m => m.Key, StringComparer.Ordinal)
            .Select(m => new MemberStatus(
                m.Key,
                m.Value,
                string.Equals(m.Key, leader.LeaderId, StringComparison.OrdinalIgnoreCase),
                string.Equals(m.Key, cluster.NodeId, StringComparison.OrdinalIgnoreCase)))
            .ToList();

        return TypedResults.Ok(new ClusterStatusResponse(
            cluster.NodeId,
            cluster.Role,
            cluster.Term,
            leader.LeaderId,
            leader.LeaderUrl,
            cluster.CommitIndex,
            cluster.LastIndex,
            stateMachine.Applied.Value,
            stateMachine.State.Revision,
            stateMachine.State.Count,
            stateMachine.State.SizeBytes,
            stateMachine.LastSnapshotIndex,
            members,
            Environment.ProcessId,
            cluster.Zone,
            silence.LongestMs,
            limits.Value.Published));
    }

    /// <summary>
    /// Long-poll for leader changes: answers with the current status as soon as the term, the leader or
    /// (when given) this node's role differs from what the caller knows (<c>term</c>, <c>leader</c>,
    /// <c>role</c>), or after <c>waitMs</c> (≤ 30 s). The router keeps one open per node, so it follows an
    /// election within milliseconds, and hears the moment a new leader is ready (role <c>leader</c>: its
    /// first entry committed), which the leader change itself precedes.
    /// A <c>term</c> or <c>waitMs</c> that is not one integer is a 400 problem.
    /// </summary>
    public static async Task<Results<Ok<ClusterStatusResponse>, ProblemHttpResult>> WatchAsync(HttpContext http, ClusterView cluster, CacheStateMachine stateMachine, LeaderSilenceMonitor silence, IOptions<CacheLimitsOptions> limits, IHostApplicationLifetime lifetime, CancellationToken token)
    {
        if (!RequestParsing.TryGetInt64(http.Request, "term", out var term, out var problem)
            || !RequestParsing.TryGetInt32(http.Request, "waitMs", out var waitMs, out problem))
        {
            return problem;
        }

        // "leader=" (empty) is "no leader", as absent is: a leaderless caller waits for one to appear
        // instead of being answered at once, again and again, for as long as an election lasts.
        var leader = http.Request.Query["leader"].ToString() is { Length: > 0 } known ? known : null;
        var role = http.Request.Query["role"].ToString() is { Length: > 0 } knownRole ? knownRole : null;
        var wait = TimeSpan.FromMilliseconds(Math.Clamp(waitMs ?? 30_000, 0, 30_000));

        // A stopping node answers at once: open long-polls must not hold up its shutdown.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token, lifetime.ApplicationStopping);
        timeout.CancelAfter(wait);
        try
        {
            while (true)
            {
                var next = cluster.NextChange; // before the look: a change in between still wakes us
                if (cluster.Term != term
                    || !string.Equals(cluster.Leader.LeaderId, leader, StringComparison.OrdinalIgnoreCase)
                    || (role is not null && !string.Equals(cluster.Role, role, StringComparison.OrdinalIgnoreCase)))
                {
                    break;
                }

                await next.WaitAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            // No change within the wait: answer with the unchanged status.
        }

        return GetStatus(cluster, stateMachine, silence, limits);
    }

    /// <summary>
    /// Followers report the keys they served (for LRU); the leader records them as accessed now.
    /// Anyone can call it, so the tracker records only keys the state holds, only on the leader,
    /// and at most <see cref="Eviction.EvictionOptions.MaxReportedKeys"/> of one report.
    /// </summary>
    public static NoContent ReportAccess(List<string> keys, Eviction.AccessTracker access, TimeProvider clock)
    {
        access.Touch(keys, clock.GetUtcNow().ToUnixTimeMilliseconds());
        return TypedResults.NoContent();
    }

    /// <summary>Leader only: a read index confirmed by a quorum round that started after this request arrived.</summary>
    public static async Task<Ok<ReadIndexResponse>> ReadIndexAsync(ReadIndexService readIndex, CancellationToken token) =>
        TypedResults.Ok(await readIndex.ConfirmAsLeaderAsync(token));
}
