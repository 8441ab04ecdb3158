using AspireCache.Node.Raft;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Eviction;

/// <summary>
/// TTL expiry, decided by the leader every <see cref="ClusterOptions.ExpiryScanInterval"/>: the keys
/// whose expiry (leader time) has passed are removed through the log. Until then reads hide them.
/// </summary>
internal sealed class ExpiryService(
    ClusterView cluster,
    CacheStateMachine stateMachine,
    WriteCoordinator writes,
    TimeProvider clock,
    NodeTelemetry telemetry,
    IOptions<ClusterOptions> options,
    ILogger<ExpiryService> logger) : LeaderRemovalService(cluster, writes, telemetry, clock, logger)
{
    protected override TimeSpan Interval => options.Value.ExpiryScanInterval;

    protected override RemovalReason Reason => RemovalReason.Expired;

    protected override List<KeyValuePair<string, long>> Choose() =>
        stateMachine.State.ExpiredKeys(Clock.GetUtcNow().ToUnixTimeMilliseconds(), MaxKeysPerEntry);
}
