using AspireCache.Client;
using AspireCache.Client.Configuration;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.Configuration;

/// <summary>
/// <c>builder.Configuration.AddAspireCache("cache", prefix: "config/orders/")</c>: AspireCache keys as
/// configuration, reloaded by a watch (issue #12).
/// </summary>
public static class AspireCacheConfigurationExtensions
{
    /// <summary>
    /// Adds the keys under <paramref name="prefix"/> as configuration: <c>config/orders/Db/Timeout</c>
    /// → <c>Db:Timeout</c>, JSON objects and arrays flattened as appsettings.json is. The first load is
    /// the state at one revision; afterwards a watch applies each change (a batch as one reload), so
    /// <c>IOptionsMonitor&lt;T&gt;.OnChange</c> runs within milliseconds of a write.
    /// </summary>
    /// <remarks>
    /// The endpoint comes from the connection string <c>ConnectionStrings:{connectionName}</c>
    /// (<c>Endpoint=&lt;router url&gt;[;Key=&lt;credential&gt;]</c>), else
    /// <c>Aspire:AspireCache:Client[:{connectionName}]:Endpoint</c>, read from the configuration
    /// built so far: the <see cref="IConfigurationManager"/> itself, or, for a plain builder, its
    /// sources added before this one. With a <see cref="IConfigurationManager"/> the first load runs
    /// during this call.
    /// </remarks>
    /// <param name="builder">The configuration being built (<c>builder.Configuration</c>).</param>
    /// <param name="connectionName">The connection string's name (the AppHost resource's name).</param>
    /// <param name="prefix">The key prefix, used as is (end it with <c>/</c>).</param>
    /// <param name="optional">
    /// <c>false</c>: an unreachable cluster (or no connection string) fails the build with an
    /// exception naming the endpoint and the cause. <c>true</c>: start empty, or from
    /// <paramref name="lastKnownGoodPath"/>, and keep trying in the background.
    /// </param>
    /// <param name="lastKnownGoodPath">A JSON file written after each successful load and reload (temporary file + rename), read at start when the cluster cannot be reached and <paramref name="optional"/> is set.</param>
    /// <param name="configure">Changes the source (deadline, timeouts, handler, error callback) before it is added.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">No endpoint (unless optional), or (with an <see cref="IConfigurationManager"/>) the first load failed.</exception>
    public static IConfigurationBuilder AddAspireCache(
        this IConfigurationBuilder builder,
        string connectionName,
        string prefix,
        bool optional = false,
        string? lastKnownGoodPath = null,
        Action<AspireCacheConfigurationSource>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);
        ArgumentNullException.ThrowIfNull(prefix);

        var settings = new AspireCacheClientSettings();
        if (builder is IConfiguration configuration)
        {
            Read(configuration, connectionName, settings);
        }
        else
        {
            // The sources added so far, as the application will see them (this one excluded).
            var root = builder.Build();
            try
            {
                Read(root, connectionName, settings);
            }
            finally
            {
                (root as IDisposable)?.Dispose();
            }
        }

        var source = new AspireCacheConfigurationSource
        {
            ConnectionName = connectionName,
            Endpoint = settings.Endpoint,
            Key = settings.Key,
            Prefix = prefix,
            Optional = optional,
            LastKnownGoodPath = lastKnownGoodPath,
        };
        configure?.Invoke(source);
        if (source.Endpoint is null && !source.Optional)
        {
            throw new InvalidOperationException(
                $"AspireCache configuration '{connectionName}': no endpoint. Set the connection string 'ConnectionStrings:{connectionName}' (Endpoint=<router url>) or '{AspireCacheClientExtensions.DefaultConfigSectionName}:Endpoint', or pass optional: true.");
        }

        return builder.Add(source);
    }

    /// <summary>The client integration's resolution: the section, its per-connection subsection, then the connection string.</summary>
    private static void Read(IConfiguration configuration, string connectionName, AspireCacheClientSettings settings)
    {
        var section = configuration.GetSection(AspireCacheClientExtensions.DefaultConfigSectionName);
        section.Bind(settings);
        section.GetSection(connectionName).Bind(settings);
        settings.ParseConnectionString(configuration.GetConnectionString(connectionName));
    }
}
