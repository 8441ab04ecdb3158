using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// TTL expiry, decided by the leader: every <see cref="ClusterOptions.ExpiryScanInterval"/> it
/// proposes one <see cref="RemoveCommand"/> for the keys whose expiry has passed (each at the
/// version it saw, so a key written again meanwhile survives). Replicas never expire anything on
/// their own clock; until the removal is applied, reads hide expired values.
/// </summary>
internal sealed class ExpiryService(
    ClusterView cluster,
    CacheStateMachine stateMachine,
    WriteCoordinator writes,
    TimeProvider clock,
    NodeTelemetry telemetry,
    IOptions<ClusterOptions> options,
    ILogger<ExpiryService> logger) : BackgroundService
{
    private const int MaxKeysPerEntry = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ExpiryScanInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!cluster.IsLeader)
            {
                continue;
            }

            var expired = stateMachine.State.ExpiredKeys(clock.GetUtcNow().ToUnixTimeMilliseconds(), MaxKeysPerEntry);
            if (expired.Count == 0)
            {
                continue;
            }

            try
            {
                await writes.ProposeAsync(new RemoveCommand(expired, RemovalReason.Expired), stoppingToken);
                telemetry.Removed(expired.Count, RemovalReason.Expired);
            }
            catch (ClusterUnavailableException ex)
            {
                // Lost leadership or quorum: the next leader will expire them.
                NodeLog.RemovalDeferred(logger, expired.Count, ex.Message);
            }
        }
    }
}
