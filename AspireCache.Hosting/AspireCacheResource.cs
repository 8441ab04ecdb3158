namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// An AspireCache cluster: Raft nodes and a router, grouped under one resource with no process of its own.
/// Its connection string is <c>Endpoint={router http url};Key={key}</c>; it is healthy while the router reports
/// the cluster healthy (a leader is known), so <c>.WaitFor(cache)</c> waits until writes can succeed.
/// </summary>
/// <param name="name">The resource name; also the connection string name (<c>ConnectionStrings__{name}</c>).</param>
public sealed class AspireCacheResource(string name) : Resource(name), IResourceWithConnectionString, IResourceWithWaitSupport
{
    private ProjectResource? _router;

    /// <summary>The Raft nodes: projects in run mode, Dockerfile-built containers in publish mode.</summary>
    public IReadOnlyList<IResourceWithEndpoints> Nodes { get; internal set; } = [];

    /// <summary>The router every client talks to.</summary>
    public ProjectResource Router
    {
        get => _router ?? throw new InvalidOperationException($"The router of '{Name}' has not been added yet.");
        internal set => _router = value;
    }

    /// <summary>The router's <c>http</c> endpoint: what clients connect to.</summary>
    public EndpointReference RouterEndpoint => field ??= new EndpointReference(Router, "http");

    /// <summary>
    /// The key the connection string carries (the cluster's admin key), or <see langword="null"/> when
    /// authentication is off.
    /// </summary>
    public ParameterResource? Key { get; internal set; }

    /// <summary>
    /// <c>Endpoint={router http url};Key={key}</c>, e.g. <c>Endpoint=http://localhost:5080;Key=…</c>
    /// (<c>Endpoint=…</c> alone when authentication is off).
    /// </summary>
    public ReferenceExpression ConnectionStringExpression => Key is { } key
        ? ReferenceExpression.Create($"Endpoint={RouterEndpoint};Key={key}")
        : ReferenceExpression.Create($"Endpoint={RouterEndpoint}");

    IEnumerable<KeyValuePair<string, ReferenceExpression>> IResourceWithConnectionString.GetConnectionProperties()
    {
        yield return new("Uri", ReferenceExpression.Create($"{RouterEndpoint}"));
        if (Key is { } key)
        {
            yield return new("Key", ReferenceExpression.Create($"{key}"));
        }
    }
}
