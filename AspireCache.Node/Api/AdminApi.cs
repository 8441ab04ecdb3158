using System.Diagnostics;
using System.Net;
using AspireCache.Node.Auth;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;
using AspireCache.Node.Api.OpenApi;
using JsonSchemaType = Microsoft.OpenApi.JsonSchemaType;

namespace AspireCache.Node.Api;

/// <summary>Operator actions, behind the dashboard's resource commands ("Step down", "Take snapshot").</summary>
public static class AdminApi
{
    public sealed record AdminResult(string NodeId, string Outcome);

    /// <summary>The HttpClient a follower uses to ask the leader for the snapshot's barrier (with the caller's credential).</summary>
    public const string ForwardHttpClientName = "admin-forward";

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin").RequireScope(Scope.Admin);
        admin.MapPost("/step-down", StepDownAsync).Documented(
            "StepDown", NodeApiTags.Admin, "Make the leader step down",
            "The leader resigns and the cluster elects a new one (there is no targeted transfer). Send it to the leader.",
            doc => doc
                .Response(StatusCodes.Status200OK, "The leader stepped down; an election is under way.")
                .Problem(StatusCodes.Status409Conflict, "This node is not the leader, or was no longer leader when it tried.", "not-leader", "step-down-failed"));
        admin.MapPost("/snapshot", SnapshotAsync).Documented(
            "TakeSnapshot", NodeApiTags.Admin, "Take a snapshot on this node",
            "Requests a snapshot at the next applied entry (committing an empty entry through the leader so that one comes) and waits for it. Without a snapshot within `waitMs` the answer is 503 `timeout`; the snapshot stays requested and may still be written.",
            doc => doc
                .Query("waitMs", "How long to wait, 0 to 30000 ms (default 30000; out of range is clamped).", JsonSchemaType.Integer)
                .Response(StatusCodes.Status200OK, "The snapshot was written.")
                .Problem(StatusCodes.Status400BadRequest, "A `waitMs` that is not one integer.", "invalid-request")
                .ClusterBacked(ClusterErrors.Write, "no leader to commit the barrier entry, or no snapshot in time"));
        admin.MapPost("/barrier", BarrierAsync).Documented(
            "CommitBarrier", NodeApiTags.Admin, "Commit an empty log entry (leader only)",
            "Used by `POST /admin/snapshot` on a follower: every node then applies an entry, so a requested snapshot is taken.",
            doc => doc
                .Response(StatusCodes.Status200OK, "The barrier entry was committed.")
                .ClusterBacked(ClusterErrors.Write));
        return app;
    }

    /// <summary>The leader resigns; the cluster elects a new leader (DotNext has no targeted transfer).</summary>
    public static async Task<Results<Ok<AdminResult>, ProblemHttpResult>> StepDownAsync(ClusterView cluster, CancellationToken token)
    {
        if (!cluster.IsLeader)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "not-leader", "Only the leader can step down", $"{cluster.NodeId} is a follower; the leader is {cluster.Leader.LeaderId ?? "unknown"}.");
        }

        var term = cluster.Term;
        var resigned = await cluster.Raft.ResignAsync(token);
        return resigned
            ? TypedResults.Ok(new AdminResult(cluster.NodeId, $"{cluster.NodeId} stepped down in term {term}; a new election is under way."))
            : Problems.Create(StatusCodes.Status409Conflict, "step-down-failed", "Step down did not happen", "The node was no longer leader.");
    }

    /// <summary>Longest a snapshot request waits for the snapshot (<c>waitMs</c> may ask for less).</summary>
    public static readonly TimeSpan MaxSnapshotWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Snapshots at the next applied entry, making sure one comes, and reports the result. When no
    /// snapshot completes within <c>waitMs</c> (≤ 30 s, the default) the answer is 503 + Retry-After
    /// (problem type <c>timeout</c>, as every other "the cluster did not answer in time"); the
    /// snapshot stays requested and may still be written. A follower that cannot get the leader to
    /// commit the barrier answers 503 <c>no-leader</c>.
    /// </summary>
    public static async Task<Results<Ok<AdminResult>, ProblemHttpResult>> SnapshotAsync(
        HttpContext http, ClusterView cluster, CacheStateMachine stateMachine, WriteCoordinator writes, IHttpClientFactory httpClientFactory, ILoggerFactory loggers, CancellationToken token)
    {
        if (!RequestParsing.TryGetInt32(http.Request, "waitMs", out var waitMs, out var problem))
        {
            return problem; // (bound by the framework, a bad waitMs was an empty 400)
        }

        var wait = TimeSpan.FromMilliseconds(Math.Clamp(waitMs ?? (int)MaxSnapshotWait.TotalMilliseconds, 0, (int)MaxSnapshotWait.TotalMilliseconds));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(wait);
        var before = stateMachine.LastSnapshotIndex;
        var started = Stopwatch.GetTimestamp();
        stateMachine.RequestSnapshot();
        try
        {
            // An empty log entry makes every node apply something now.
            if (cluster.IsLeader)
            {
                await writes.ProposeBarrierAsync(timeout.Token);
            }
            else if (cluster.Leader is { LeaderUrl: { } leader, LeaderId: var leaderId })
            {
                HttpStatusCode status;
                try
                {
                    // The barrier is an admin call on the leader: made with the caller's own credential.
                    using var barrier = new HttpRequestMessage(HttpMethod.Post, new Uri(leader, "/admin/barrier"));
                    if (http.Request.Headers.Authorization is { Count: 1 } authorization)
                    {
                        barrier.Headers.TryAddWithoutValidation("Authorization", authorization.ToString());
                    }

                    using var response = await httpClientFactory.CreateClient(ForwardHttpClientName).SendAsync(barrier, timeout.Token);
                    status = response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    throw new ClusterUnavailableException(UnavailableReason.NoLeader, $"The leader {leaderId} could not be reached to commit the snapshot's barrier entry; retry shortly.");
                }

                if ((int)status is < 200 or > 299)
                {
                    throw new ClusterUnavailableException(UnavailableReason.NoLeader, $"The leader {leaderId} answered {(int)status} to the snapshot's barrier entry; retry shortly.");
                }
            }

            while (stateMachine.LastSnapshotIndex == before)
            {
                await Task.Delay(20, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            Diagnostics.NodeLog.SnapshotRequestTimedOut(loggers.CreateLogger(typeof(AdminApi).FullName!), wait.TotalSeconds, stateMachine.LastSnapshotIndex);
            throw new ClusterUnavailableException(
                UnavailableReason.Timeout,
                $"No snapshot completed on {cluster.NodeId} within {wait.TotalSeconds:0.###} s (the last is at index {stateMachine.LastSnapshotIndex}); it stays requested and may still be written.");
        }

        return TypedResults.Ok(new AdminResult(
            cluster.NodeId,
            $"Snapshot at index {stateMachine.LastSnapshotIndex} with {stateMachine.State.Count} keys in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms."));
    }

    /// <summary>Leader only: commits an empty entry (used by "Take snapshot" on followers).</summary>
    public static async Task<Ok<AdminResult>> BarrierAsync(ClusterView cluster, WriteCoordinator writes, CancellationToken token)
    {
        await writes.ProposeBarrierAsync(token);
        return TypedResults.Ok(new AdminResult(cluster.NodeId, "barrier committed"));
    }
}
