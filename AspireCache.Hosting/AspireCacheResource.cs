namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// An AspireCache cluster: Raft nodes and a router, grouped under one resource with no process of its own.
/// Its connection string is <c>Endpoint={router http url};Key={key}</c>; it is healthy while the router reports
/// the cluster healthy (a leader is known), so <c>.WaitFor(cache)</c> waits until writes can succeed.
/// </summary>
/// <param name="name">The resource name; also the connection string name (<c>ConnectionStrings__{name}</c>).</param>
public sealed class AspireCacheResource(string name) : Resource(name), IResourceWithConnectionString, IResourceWithWaitSupport
{
    private readonly List<AspireCacheCredential> _credentials = [];
    private ProjectResource? _router;
    private ParameterResource? _key;
    private ReferenceExpression? _keyProperty;

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
    public ParameterResource? Key
    {
        get => _key;
        internal set
        {
            _key = value;
            _keyProperty = value is null ? null : ReferenceExpression.Create($"{value}");
        }
    }

    /// <summary>
    /// Every credential the nodes accept, in the order they are configured (<c>Auth__Credentials__{i}</c>):
    /// the cluster's own (<c>admin</c>, <c>router</c>, a previous <c>admin</c> key during a rotation) and one
    /// per service referenced with an access level
    /// (<see cref="AspireCacheBuilderExtensions.WithReference{TDestination}(IResourceBuilder{TDestination}, IResourceBuilder{AspireCacheResource}, AspireCacheAccess, IEnumerable{string}?, string?)"/>).
    /// The nodes read this list when they start, so credentials added after <c>AddAspireCache</c> reach them.
    /// Empty when authentication is off.
    /// </summary>
    public IReadOnlyList<AspireCacheCredential> Credentials => _credentials;

    /// <summary>
    /// <c>Endpoint={router http url};Key={key}</c>, e.g. <c>Endpoint=http://localhost:5080;Key=…</c>
    /// (<c>Endpoint=…</c> alone when authentication is off).
    /// </summary>
    public ReferenceExpression ConnectionStringExpression => Key is { } key
        ? ReferenceExpression.Create($"Endpoint={RouterEndpoint};Key={key}")
        : ReferenceExpression.Create($"Endpoint={RouterEndpoint}");

    /// <summary>The <c>Key</c> connection property (one instance, so that a per-service reference can find and replace it).</summary>
    internal ReferenceExpression? KeyProperty => _keyProperty;

    /// <summary><c>Endpoint={router http url};Key={the credential's key}</c>: the connection string of a service with its own credential.</summary>
    public ReferenceExpression ConnectionStringExpressionFor(AspireCacheCredential credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return ReferenceExpression.Create($"Endpoint={RouterEndpoint};Key={credential.Key}");
    }

    internal void AddCredential(AspireCacheCredential credential) => _credentials.Add(credential);

    IEnumerable<KeyValuePair<string, ReferenceExpression>> IResourceWithConnectionString.GetConnectionProperties()
    {
        yield return new("Uri", ReferenceExpression.Create($"{RouterEndpoint}"));
        if (KeyProperty is { } key)
        {
            yield return new("Key", key);
        }
    }
}

/// <summary>
/// One credential of an AspireCache cluster: a name (what the nodes record as the <c>writer</c> of its
/// writes), a secret key parameter, what it may do and on which keys.
/// </summary>
public sealed class AspireCacheCredential
{
    internal AspireCacheCredential(string name, ParameterResource key, AspireCacheAccess access, IReadOnlyList<string> prefixes, IResource? service)
    {
        Name = name;
        Key = key;
        Access = access;
        Prefixes = prefixes;
        Service = service;
    }

    /// <summary>The credential's name: <c>admin</c>, <c>router</c>, or the referencing service's resource name.</summary>
    public string Name { get; }

    /// <summary>The secret parameter holding the key (sent as <c>Authorization: Bearer &lt;key&gt;</c>).</summary>
    public ParameterResource Key { get; }

    /// <summary>The scopes it has.</summary>
    public AspireCacheAccess Access { get; }

    /// <summary>The key prefixes it is limited to; empty: every key.</summary>
    public IReadOnlyList<string> Prefixes { get; }

    /// <summary>The service it was made for, or <see langword="null"/> for the cluster's own credentials (admin, router).</summary>
    public IResource? Service { get; }

    /// <summary>The node's scope names (<c>Auth:Credentials:{i}:Scopes</c>) for <see cref="Access"/>.</summary>
    internal string[] ScopeNames => Access switch
    {
        AspireCacheAccess.Read => ["read"],
        AspireCacheAccess.Write => ["write"],
        AspireCacheAccess.ReadWrite => ["read", "write"],
        AspireCacheAccess.Admin => ["admin"],
        _ => throw new InvalidOperationException($"Unknown access level {Access}."),
    };

    /// <inheritdoc />
    public override string ToString() => Name; // never the key
}
