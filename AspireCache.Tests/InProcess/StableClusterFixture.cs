namespace AspireCache.Tests.InProcess;

/// <summary>One in-process cluster shared by tests that do not stop nodes.</summary>
public sealed class StableClusterFixture : IAsyncLifetime
{
    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await InProcessCluster.StartAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
