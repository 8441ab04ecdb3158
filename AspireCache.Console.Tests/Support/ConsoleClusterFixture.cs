namespace AspireCache.Console.Tests.Support;

/// <summary>
/// One cluster with authentication on, its router, and one console in front of them, shared by a
/// test class: operators <c>alice</c> (read, write) and <c>bob</c> (read, write: "another writer"),
/// the router's and the console's own credentials (read), and <c>ops</c> (admin, the fixture's own).
/// </summary>
public sealed class ConsoleClusterFixture : IAsyncLifetime
{
    public TestCredential Ops { get; } = TestCredential.Create("ops", ["admin"]);

    public TestCredential Alice { get; } = TestCredential.Create("alice", ["read", "write"]);

    public TestCredential Bob { get; } = TestCredential.Create("bob", ["read", "write"]);

    public TestCredential ReadOnly { get; } = TestCredential.Create("auditor", ["read"]);

    public TestCredential WriteOnly { get; } = TestCredential.Create("loader", ["write"]);

    public TestCredential RouterCredential { get; } = TestCredential.Create("router", ["read"]);

    public TestCredential ConsoleCredential { get; } = TestCredential.Create("console", ["read"]);

    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    public InProcessConsole Console { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(
            TestCredential.NodeSettings(Ops, Alice, Bob, ReadOnly, WriteOnly, RouterCredential, ConsoleCredential),
            credential: Ops.Key);
        Router = await InProcessRouter.StartAsync(Cluster, new Dictionary<string, string?> { ["Router:Credential"] = RouterCredential.Key });
        Console = await InProcessConsole.StartAsync(Router.Url, ConsoleCredential.Key);
    }

    public async Task DisposeAsync()
    {
        await Console.DisposeAsync();
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Another writer, straight through the router's HTTP API.</summary>
    public HttpClient AsBob() => Bob.Client(Router.Url);

    public HttpClient AsOps() => Ops.Client(Router.Url);
}
