using Microsoft.OpenApi;

namespace AspireCache.Node.Api.OpenApi;

/// <summary>Which of the cluster's "cannot serve this now" answers (<see cref="ClusterExceptionHandler"/>) an endpoint can give.</summary>
public enum ClusterErrors
{
    /// <summary>None: the node answers from its own state.</summary>
    None,

    /// <summary>A linearizable read (read index): 503 <c>no-leader</c>, <c>overloaded</c>, <c>timeout</c>.</summary>
    Read,

    /// <summary>A write through the Raft log: 421 <c>not-leader</c>, <c>leadership-lost</c>, and 503 as for reads.</summary>
    Write,
}

/// <summary>
/// Endpoint metadata describing one operation for the OpenAPI document: what the handler reads by
/// hand (query parameters, headers, a raw body), what it answers besides its typed results, and
/// which problem types each error status carries. Built once at startup and read only by
/// <see cref="NodeOperationTransformer"/> when a document is generated — never on a request.
/// </summary>
public sealed class OperationDoc
{
    internal List<ParameterDoc> Parameters { get; } = [];

    internal BodyDoc? Body { get; private set; }

    internal Dictionary<int, ResponseDoc> Responses { get; } = [];

    internal List<Type> EventTypes { get; } = [];

    internal ClusterErrors Cluster { get; private set; }

    internal string? ClusterCondition { get; private set; }

    /// <summary>A query parameter the handler parses itself.</summary>
    public OperationDoc Query(string name, string description, JsonSchemaType type = JsonSchemaType.String, bool required = false, bool repeatable = false, string? example = null, string? format = null)
    {
        Parameters.Add(new ParameterDoc(name, ParameterLocation.Query, description, type, required, repeatable, example, format ?? (type == JsonSchemaType.Integer ? "int32" : null)));
        return this;
    }

    /// <summary>
    /// The description of a route parameter (the framework describes its name and type).
    /// <paramref name="reserved"/>: a catch-all whose <c>/</c> are sent as they are, marked
    /// <c>x-ms-reserved-parameter</c> (Kiota then expands it as <c>{+key}</c> instead of sending <c>%2F</c>).
    /// </summary>
    public OperationDoc Path(string name, string description, string? example = null, bool reserved = false)
    {
        Parameters.Add(new ParameterDoc(name, ParameterLocation.Path, description, JsonSchemaType.String, true, reserved, example, null));
        return this;
    }

    /// <summary>A request header the handler reads.</summary>
    public OperationDoc Header(string name, string description, string? example = null)
    {
        Parameters.Add(new ParameterDoc(name, ParameterLocation.Header, description, JsonSchemaType.String, false, false, example, null));
        return this;
    }

    /// <summary>A body read as raw bytes (<c>application/octet-stream</c>, any content type accepted).</summary>
    public OperationDoc BinaryBody(string description)
    {
        Body = new BodyDoc("application/octet-stream", null, description);
        return this;
    }

    /// <summary>A JSON body the handler deserializes itself (so the framework does not describe it).</summary>
    public OperationDoc JsonBody<T>(string description)
    {
        Body = new BodyDoc("application/json", typeof(T), description);
        return this;
    }

    /// <summary>
    /// A success (or 3xx) answer: its description, and its content when no typed result describes it
    /// (<paramref name="contentType"/> with a string schema of <paramref name="format"/>).
    /// </summary>
    public OperationDoc Response(int status, string description, string? contentType = null, string? format = null)
    {
        var response = ResponseOf(status);
        response.Descriptions.Add(description);
        response.ContentType = contentType ?? response.ContentType;
        response.Format = format ?? response.Format;
        return this;
    }

    /// <summary>An error answer: an RFC 9457 problem of one of <paramref name="types"/> (names under <see cref="ProblemTypes.Base"/>, or full URIs).</summary>
    public OperationDoc Problem(int status, string description, params string[] types)
    {
        var response = ResponseOf(status);
        response.Descriptions.Add(description);
        foreach (var type in types)
        {
            response.ProblemTypes.Add(ProblemCatalog.Uri(type));
        }

        return this;
    }

    /// <summary>A header on the answer with <paramref name="status"/>.</summary>
    public OperationDoc ResponseHeader(int status, string name, string description, JsonSchemaType type = JsonSchemaType.String, string? format = null)
    {
        ResponseOf(status).Headers.Add(new HeaderDoc(name, description, type, format ?? (type == JsonSchemaType.Integer ? "int64" : null)));
        return this;
    }

    /// <summary>The headers of a read (consistency, applied index, revision) on the answer with <paramref name="status"/>.</summary>
    public OperationDoc ReadHeaders(int status)
    {
        return ResponseHeader(status, CacheHeaders.Consistency, "`linearizable` (confirmed with the leader) or `stale` (`consistent=false`: this node's state as it is).")
            .ResponseHeader(status, CacheHeaders.AppliedIndex, "The log index this node had applied when it read.", JsonSchemaType.Integer)
            .ResponseHeader(status, CacheHeaders.ReadIndex, "Linearizable reads: the read index confirmed by the leader that the node waited for.", JsonSchemaType.Integer)
            .ResponseHeader(status, CacheHeaders.CommitIndex, "Stale reads: the commit index this node had heard of.", JsonSchemaType.Integer)
            .ResponseHeader(status, CacheHeaders.Revision, "The state revision the answer was taken from: watch from it (`afterRevision`) to follow every later change.", JsonSchemaType.Integer);
    }

    /// <summary>Schemas of a stream's event data (<c>text/event-stream</c>): added to the components, listed as <c>x-event-data</c>.</summary>
    public OperationDoc EventData(params Type[] types)
    {
        EventTypes.AddRange(types);
        return this;
    }

    /// <summary>The cluster errors the endpoint can answer (421/503), optionally only under <paramref name="condition"/>.</summary>
    public OperationDoc ClusterBacked(ClusterErrors errors, string? condition = null)
    {
        Cluster = errors;
        ClusterCondition = condition;
        return this;
    }

    private ResponseDoc ResponseOf(int status)
    {
        if (!Responses.TryGetValue(status, out var response))
        {
            Responses[status] = response = new ResponseDoc();
        }

        return response;
    }
}

/// <param name="Repeatable">Query: an array (the name repeated per value). Path: a reserved (catch-all) parameter.</param>
internal sealed record ParameterDoc(string Name, ParameterLocation In, string Description, JsonSchemaType Type, bool Required, bool Repeatable, string? Example, string? Format);

internal sealed record BodyDoc(string ContentType, Type? JsonType, string Description);

internal sealed record HeaderDoc(string Name, string Description, JsonSchemaType Type, string? Format = null);

internal sealed class ResponseDoc
{
    public List<string> Descriptions { get; } = [];

    public List<string> ProblemTypes { get; } = [];

    public List<HeaderDoc> Headers { get; } = [];

    public string? ContentType { get; set; }

    public string? Format { get; set; }

    public ResponseDoc Copy()
    {
        var copy = new ResponseDoc { ContentType = ContentType, Format = Format };
        copy.Descriptions.AddRange(Descriptions);
        copy.ProblemTypes.AddRange(ProblemTypes);
        copy.Headers.AddRange(Headers);
        return copy;
    }
}

/// <summary>Builder extensions that attach an <see cref="OperationDoc"/> to an endpoint (at startup).</summary>
public static class OperationDocExtensions
{
    /// <summary>Describes the endpoint for the OpenAPI document: operation id, tag, summary, description and <paramref name="configure"/>d details.</summary>
    public static RouteHandlerBuilder Documented(this RouteHandlerBuilder builder, string operationId, string tag, string summary, string description, Action<OperationDoc>? configure = null)
    {
        var doc = new OperationDoc();
        configure?.Invoke(doc);
        return builder
            .WithName(operationId)
            .WithTags(tag)
            .WithSummary(summary)
            .WithDescription(description)
            .WithMetadata(doc);
    }
}
