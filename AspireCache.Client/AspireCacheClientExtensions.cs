using AspireCache.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The AspireCache client integration, shaped like Aspire's own (<c>AddRedisClient</c>):
/// <c>builder.AddAspireCacheClient("cache")</c> registers <see cref="IAspireCacheClient"/>, a
/// health check, tracing and metrics. Every registration for one connection name (plain, keyed,
/// <c>AddAspireCacheDistributedCache</c>) shares one client, HttpClient and health check; the first
/// registration's settings decide.
/// </summary>
public static class AspireCacheClientExtensions
{
    /// <summary>The configuration section the settings are bound from.</summary>
    public const string DefaultConfigSectionName = "Aspire:AspireCache:Client";

    /// <summary>
    /// Registers <see cref="IAspireCacheClient"/> (singleton) for the connection string
    /// <c>ConnectionStrings:{connectionName}</c> (<c>Endpoint=&lt;router url&gt;[;Key=…]</c>).
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="connectionName">The connection string's name (the AppHost resource's name).</param>
    /// <param name="configureSettings">Changes the settings after configuration is bound.</param>
    /// <param name="configureHttpClient">Configures the client's named <see cref="IHttpClientBuilder"/> (add handlers here, not a resilience handler).</param>
    public static void AddAspireCacheClient(
        this IHostApplicationBuilder builder,
        string connectionName,
        Action<AspireCacheClientSettings>? configureSettings = null,
        Action<IHttpClientBuilder>? configureHttpClient = null)
        => Add(builder, connectionName, serviceKey: null, configureSettings, configureHttpClient);

    /// <summary>
    /// Registers <see cref="IAspireCacheClient"/> as a keyed singleton (key = <paramref name="name"/>);
    /// settings also from <c>Aspire:AspireCache:Client:{name}</c>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The connection string's name, also the service key.</param>
    /// <param name="configureSettings">Changes the settings after configuration is bound.</param>
    /// <param name="configureHttpClient">Configures the client's named <see cref="IHttpClientBuilder"/>.</param>
    public static void AddKeyedAspireCacheClient(
        this IHostApplicationBuilder builder,
        string name,
        Action<AspireCacheClientSettings>? configureSettings = null,
        Action<IHttpClientBuilder>? configureHttpClient = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Add(builder, name, serviceKey: name, configureSettings, configureHttpClient);
    }

    /// <summary>The name of the <see cref="HttpClient"/> registered for a connection (for <see cref="IHttpClientFactory"/>).</summary>
    /// <param name="connectionName">The connection name.</param>
    public static string HttpClientName(string connectionName) => "AspireCache.Client." + connectionName;

    private static void Add(
        IHostApplicationBuilder builder,
        string connectionName,
        string? serviceKey,
        Action<AspireCacheClientSettings>? configureSettings,
        Action<IHttpClientBuilder>? configureHttpClient)
    {
        var connection = AddConnection(builder, connectionName, plain: serviceKey is null, configureSettings, configureHttpClient);
        if (serviceKey is null)
        {
            builder.Services.AddSingleton(connection.Resolve);
        }
        else
        {
            builder.Services.AddKeyedSingleton(serviceKey, (services, _) => connection.Resolve(services));
        }
    }

    /// <summary>
    /// Registers the connection <paramref name="connectionName"/> once per builder: its settings, its
    /// named HttpClient, one shared <see cref="AspireCacheClient"/> (an internal keyed singleton), the
    /// health check, tracing and metrics. Later calls for the same connection (the keyed or plain
    /// client, the distributed cache) share it; the first call's settings decide.
    /// </summary>
    internal static AspireCacheConnection AddConnection(
        IHostApplicationBuilder builder,
        string connectionName,
        bool plain,
        Action<AspireCacheClientSettings>? configureSettings,
        Action<IHttpClientBuilder>? configureHttpClient)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);

        var connections = builder.Properties.TryGetValue(typeof(AspireCacheConnection), out var existing)
            ? (Dictionary<string, AspireCacheConnection>)existing
            : (Dictionary<string, AspireCacheConnection>)(builder.Properties[typeof(AspireCacheConnection)] = new Dictionary<string, AspireCacheConnection>(StringComparer.Ordinal));
        if (connections.TryGetValue(connectionName, out var registered))
        {
            return registered;
        }

        var settings = new AspireCacheClientSettings();
        var section = builder.Configuration.GetSection(DefaultConfigSectionName);
        section.Bind(settings);
        section.GetSection(connectionName).Bind(settings);
        settings.ParseConnectionString(builder.Configuration.GetConnectionString(connectionName));
        configureSettings?.Invoke(settings);
        var endpoint = settings.Endpoint ?? settings.Nodes.FirstOrDefault() ?? throw new InvalidOperationException(
            $"AspireCache client '{connectionName}': no endpoint. Set the connection string 'ConnectionStrings:{connectionName}' (Endpoint=<router url>) or '{DefaultConfigSectionName}:Endpoint'.");

        var httpName = HttpClientName(connectionName);
        var http = builder.Services.AddHttpClient(httpName, client =>
            {
                client.BaseAddress = endpoint;
                // Calls are bounded by their deadline, and watches last as long as they are read.
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            // No additional handlers, whatever ConfigureHttpClientDefaults added (ServiceDefaults'
            // standard resilience handler): its circuit breaker would open on the 503s of an
            // election, and its retries would stack on this client's and the router's. This client
            // retries by its own rules (idempotency keys, deadline, outcome-unknown).
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear())
            // No IHttpClientFactory request logging: at Trace it logs request headers, and although
            // the message redacts their values, its structured state carries them as sent, so an
            // OpenTelemetry log exporter would ship the Authorization key. Traces still show each call.
            .RemoveAllLoggers();
        configureHttpClient?.Invoke(http);

        var options = new AspireCacheClientOptions
        {
            Deadline = settings.Deadline,
            MaxRetryDelay = settings.MaxRetryDelay,
            FollowLeaderUrl = settings.FollowLeaderUrl,
            Credential = settings.Key,
            NearCache = settings.NearCache,
            Nodes = settings.Nodes,
            LinearizableReadsToLeader = settings.LinearizableReadsToLeader,
            CoalesceReads = settings.CoalesceReads,
            CoalesceWrites = settings.CoalesceWrites,
            DefaultConsistency = settings.DefaultConsistency,
        };

        var connection = new AspireCacheConnection(connectionName);
        builder.Services.AddKeyedSingleton<IAspireCacheClient>(connection.ServiceKey, (services, _) =>
        {
            var factory = services.GetRequiredService<IHttpClientFactory>();
            return new AspireCacheClient(() => factory.CreateClient(httpName), options);
        });
        connections[connectionName] = connection;

        if (!settings.DisableHealthChecks)
        {
            // A plain (not keyed) registration's check is "AspireCache", a keyed one's "AspireCache_{name}".
            var checkName = plain && !connections.Values.Any(c => c.HealthCheckName == "AspireCache") ? "AspireCache" : "AspireCache_" + connectionName;
            connection.HealthCheckName = checkName;
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
                checkName,
                services => new AspireCacheHealthCheck(services.GetRequiredService<IHttpClientFactory>(), httpName),
                failureStatus: default,
                tags: default,
                timeout: settings.HealthCheckTimeout));
        }

        if (!settings.DisableTracing)
        {
            builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(AspireCacheClientTelemetry.Name));
        }

        if (!settings.DisableMetrics)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(AspireCacheClientTelemetry.Name));
        }

        return connection;
    }
}

/// <summary>One registered connection: the key of its shared client among the services.</summary>
/// <param name="Name">The connection string's name.</param>
internal sealed record AspireCacheConnection(string Name)
{
    /// <summary>The internal service key of the connection's one <see cref="IAspireCacheClient"/>.</summary>
    public string ServiceKey { get; } = "AspireCache.Client.Connection:" + Name;

    /// <summary>The name of its health check, if it has one.</summary>
    public string? HealthCheckName { get; set; }

    /// <summary>The connection's client.</summary>
    public IAspireCacheClient Resolve(IServiceProvider services) => services.GetRequiredKeyedService<IAspireCacheClient>(ServiceKey);
}
