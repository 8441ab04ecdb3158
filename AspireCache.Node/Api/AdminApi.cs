using System.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AspireCache.Node.Api;

/// <summary>Operator actions, behind the dashboard's resource commands ("Step down", "Take snapshot").</summary>
public static class AdminApi
{
    public sealed record AdminResult(string NodeId, string Outcome);

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin");
        admin.MapPost("/step-down", StepDownAsync);
        admin.MapPost("/snapshot", SnapshotAsync);
        admin.MapPost("/barrier", BarrierAsync);
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

    /// <summary>Snapshots at the next applied entry, making sure one comes, and reports the result.</summary>
    public static async Task<Results<Ok<AdminResult>, ProblemHttpResult>> SnapshotAsync(
        ClusterView cluster, CacheStateMachine stateMachine, WriteCoordinator writes, IHttpClientFactory httpClientFactory, CancellationToken token)
    {
        var before = stateMachine.LastSnapshotIndex;
        var started = Stopwatch.GetTimestamp();
        stateMachine.RequestSnapshot();

        // An empty log entry makes every node apply something now.
        if (cluster.IsLeader)
        {
            await writes.ProposeBarrierAsync(token);
        }
        else if (cluster.Leader.LeaderUrl is { } leader)
        {
            using var response = await httpClientFactory.CreateClient(ReadIndexService.HttpClientName).PostAsync(new Uri(leader, "/admin/barrier"), null, token);
            response.EnsureSuccessStatusCode();
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (stateMachine.LastSnapshotIndex == before)
        {
            await Task.Delay(20, timeout.Token);
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
