using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AspireCache.Node.Api;

/// <summary>Cluster introspection and the node-to-node read-index endpoint.</summary>
public static class ClusterApi
{
    public const string NodeHeader = "X-AspireCache-Node";
    public const string RoleHeader = "X-AspireCache-Role";

    public static IEndpointRouteBuilder MapClusterApi(this IEndpointRouteBuilder app)
    {
        var cluster = app.MapGroup("/cluster");
        cluster.MapGet("/status", GetStatus);
        cluster.MapPost("/read-index", ReadIndexAsync);
        return app;
    }

    public static Ok<ClusterStatusResponse> GetStatus(ClusterView cluster, CacheStateMachine stateMachine)
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
            stateMachine.LastSnapshotIndex,
            members));
    }

    /// <summary>Leader only: a read index confirmed by a quorum round that started after this request arrived.</summary>
    public static async Task<Ok<ReadIndexResponse>> ReadIndexAsync(ReadIndexService readIndex, CancellationToken token) =>
        TypedResults.Ok(await readIndex.ConfirmAsLeaderAsync(token));
}
