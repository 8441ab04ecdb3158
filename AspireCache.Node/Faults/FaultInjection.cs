using System.Collections.Immutable;
using AspireCache.Node.Raft;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Faults;

/// <summary>
/// Network partitions for tests, in the node-to-node transport. Exists only when
/// <c>Cluster:FaultInjection=true</c>: the handler is not installed and the admin endpoint is not
/// mapped otherwise. Blocking is outgoing-only — every node-to-node exchange is a request its
/// sender starts, so blocking A→B on A and B→A on B cuts the link both ways.
/// </summary>
public sealed class PartitionState
{
    private ImmutableHashSet<string> _blocked = ImmutableHashSet.Create<string>(StringComparer.OrdinalIgnoreCase);

    public ImmutableHashSet<string> Blocked => Volatile.Read(ref _blocked);

    public void Block(IEnumerable<string> peers) => Volatile.Write(ref _blocked, ImmutableHashSet.CreateRange(StringComparer.OrdinalIgnoreCase, peers));

    public void Heal() => Block([]);
}

/// <summary>Fails requests to blocked peers as if the network dropped them.</summary>
internal sealed class PartitionHandler(PartitionState partition, IOptions<ClusterOptions> options) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var blocked = partition.Blocked;
        if (!blocked.IsEmpty && request.RequestUri is { } uri)
        {
            foreach (var (id, url) in options.Value.Members)
            {
                if (blocked.Contains(id) && Uri.Compare(url, uri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
                {
                    throw new HttpRequestException($"Fault injection: the link to {id} is cut.");
                }
            }
        }

        return base.SendAsync(request, cancellationToken);
    }
}

public static class FaultInjectionExtensions
{
    public const string EnabledKey = "Cluster:FaultInjection";

    public sealed record PartitionRequest(List<string> Blocked);

    public static bool IsFaultInjectionEnabled(this IConfiguration configuration) => configuration.GetValue<bool>(EnabledKey);

    /// <summary>Adds the partition handler to every node-to-node client. Call only when enabled.</summary>
    public static IServiceCollection AddFaultInjection(this IServiceCollection services, params string[] httpClients)
    {
        services.AddSingleton<PartitionState>();
        services.AddTransient<PartitionHandler>();
        foreach (var name in httpClients)
        {
            // Runs after the Raft client's "clear every additional handler" step, so it survives it.
            services.AddHttpClient(name).ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Add(sp.GetRequiredService<PartitionHandler>()));
        }

        return services;
    }

    /// <summary><c>PUT /admin/faults/partition {"blocked":["node2"]}</c> cuts this node's links to those peers; <c>DELETE</c> heals.</summary>
    public static IEndpointRouteBuilder MapFaultInjection(this IEndpointRouteBuilder app)
    {
        app.MapPut("/admin/faults/partition", (PartitionRequest request, PartitionState partition) =>
        {
            partition.Block(request.Blocked);
            return TypedResults.Ok(new PartitionRequest([.. partition.Blocked]));
        });
        app.MapDelete("/admin/faults/partition", (PartitionState partition) =>
        {
            partition.Heal();
            return TypedResults.NoContent();
        });
        return app;
    }
}
