using Aspire.Hosting.ApplicationModel;

namespace Aspire.Hosting;

public static partial class AspireCacheBuilderExtensions
{
    /// <summary>The names of the cluster's own credentials: a service with one of these names cannot get a credential of its own.</summary>
    private static readonly string[] ReservedCredentialNames = ["admin", "router"];

    /// <summary>
    /// References an AspireCache cluster with a credential of the service's own: a generated secret parameter
    /// <c>{service}-{cache}-key</c>, accepted by every node as a credential named after the service with
    /// <paramref name="access"/> on the keys under <paramref name="prefixes"/>, and the service's connection
    /// string <c>ConnectionStrings__{cache}</c> = <c>Endpoint={router url};Key={its key}</c>.
    /// </summary>
    /// <typeparam name="TDestination">The referencing resource (a project, executable or container).</typeparam>
    /// <param name="builder">The referencing service.</param>
    /// <param name="cache">The cluster (<see cref="AddAspireCache{TNode, TRouter}"/>).</param>
    /// <param name="access">What the credential may do: <see cref="AspireCacheAccess.Read"/>, <see cref="AspireCacheAccess.Write"/>, <see cref="AspireCacheAccess.ReadWrite"/> or <see cref="AspireCacheAccess.Admin"/>.</param>
    /// <param name="prefixes">
    /// The key prefixes it may read, write and watch (plain string prefixes: end them with <c>/</c>, so that
    /// <c>orders/</c> does not also cover <c>orders-archive/…</c>); <see langword="null"/> or empty: every key.
    /// </param>
    /// <param name="connectionName">The connection string's name if not the cluster's (<c>ConnectionStrings__{connectionName}</c>).</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>Example: <c>builder.AddProject&lt;Projects.Orders&gt;("orders").WithReference(cache, AspireCacheAccess.ReadWrite, prefixes: ["config/orders/", "orders/"])</c>.
    /// Every write the service makes is recorded with the writer <c>orders</c> (watch events' <c>writer</c>); a
    /// request outside its prefixes or scopes is answered 403 by the nodes themselves.</para>
    /// <para>Everything else is what <c>.WithReference(cache)</c> gives (the connection properties
    /// <c>{CACHE}_URI</c> and <c>{CACHE}_KEY</c>, the latter with the service's key, and the dashboard's reference link). A plain
    /// <c>.WithReference(cache)</c> still works and gives the cluster's <em>admin</em> key, as before per-service credentials existed:
    /// fine for a quick start, but every such service can then change any key and step the leader down.</para>
    /// <para>The key is generated (32 letters and digits) and kept in the AppHost's user secrets in run mode, or set
    /// with <c>Parameters:{service}-{cache}-key</c>; in publish mode it is a secret input of the deployment. The
    /// nodes read the credential list when they start, so this may be called after <c>AddAspireCache</c>, in any order.
    /// With <see cref="AspireCacheClusterOptions.EnableAuthentication"/> off there are no credentials: this is then a plain
    /// <c>.WithReference(cache)</c>.</para>
    /// </remarks>
    /// <exception cref="ArgumentException">A prefix is empty or holds control characters, or the service is named like one of the cluster's own credentials (<c>admin</c>, <c>router</c>).</exception>
    /// <exception cref="InvalidOperationException">The service already has a credential for this cluster.</exception>
    public static IResourceBuilder<TDestination> WithReference<TDestination>(
        this IResourceBuilder<TDestination> builder,
        IResourceBuilder<AspireCacheResource> cache,
        AspireCacheAccess access,
        IEnumerable<string>? prefixes = null,
        string? connectionName = null)
        where TDestination : IResourceWithEnvironment
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(cache);
        if (!Enum.IsDefined(access))
        {
            throw new ArgumentOutOfRangeException(nameof(access), access, "Read, Write, ReadWrite or Admin.");
        }

        string[] keyPrefixes = [.. (prefixes ?? []).Distinct(StringComparer.Ordinal)];
        foreach (var prefix in keyPrefixes)
        {
            if (string.IsNullOrEmpty(prefix) || prefix.Any(char.IsControl))
            {
                throw new ArgumentException($"Every key prefix must be non-empty and free of control characters (got '{prefix}').", nameof(prefixes));
            }
        }

        var resource = cache.Resource;
        var service = builder.Resource;

        // Everything a plain reference gives: ConnectionStrings__{name} (and Aspire's portable alias of it),
        // the connection properties, the dashboard's reference link and the connection string's events.
        builder.WithReference(cache, connectionName);
        if (resource.Key is null)
        {
            return builder; // authentication off: the connection string carries no key at all
        }

        if (ReservedCredentialNames.Contains(service.Name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"'{service.Name}' is the name of one of the cluster's own credentials; a service with this name cannot have a credential of its own on '{resource.Name}'.", nameof(builder));
        }

        if (resource.Credentials.Any(c => ReferenceEquals(c.Service, service)))
        {
            throw new InvalidOperationException($"'{service.Name}' already has a credential for '{resource.Name}'.");
        }

        var key = GeneratedKey(builder.ApplicationBuilder, $"{service.Name}-{resource.Name}-key");
        var credential = new AspireCacheCredential(service.Name, key.Resource, access, keyPrefixes, service);
        resource.AddCredential(credential); // the nodes' environment callbacks list it
        foreach (var node in resource.Nodes)
        {
            builder.ApplicationBuilder.CreateResourceBuilder(node).WithReferenceRelationship(key.Resource);
        }

        // Replace the admin key wherever the plain reference put it (the connection string and its Key
        // property) with this service's: the service never sees the admin key.
        var connectionString = resource.ConnectionStringExpressionFor(credential);
        var keyProperty = ReferenceExpression.Create($"{key.Resource}");
        var adminKeyProperty = resource.KeyProperty;
        return builder.WithEnvironment(context =>
        {
            foreach (var (variable, value) in context.EnvironmentVariables.ToArray())
            {
                if (value is ConnectionStringReference reference && ReferenceEquals(reference.Resource, resource))
                {
                    context.EnvironmentVariables[variable] = connectionString;
                }
                else if (ReferenceEquals(value, adminKeyProperty))
                {
                    context.EnvironmentVariables[variable] = keyProperty;
                }
            }
        });
    }
}
