// Typesafe Config (Lightbend config), the library Canton reads its configuration with, as a test oracle:
// HOCON in, the resolved tree out as canonical JSON.
//
// Run with the single-file source launcher (no build step):
//
//   java -cp /usr/share/java/typesafe-config.jar tests/oracle/HoconToJson.java [--env NAME=VALUE]... FILE...
//       Concatenates the files in order (one newline between), as the Splice entrypoint appends every
//       ADDITIONAL_CONFIG* variable to the file it loads last, parses the text with
//       ConfigFactory.parseString, resolves it and prints the tree as concise JSON. Substitutions see
//       only the --env values given, never this process's environment. Exit 1 with the message on
//       stderr if Typesafe Config refuses the text.
//
//   java -cp ... tests/oracle/HoconToJson.java --batch
//       Many documents in one JVM: reads one JSON request per stdin line,
//         {"parts": ["hocon text", ...], "env": {"NAME": "value", ...}}
//       and writes one JSON line per request, flushed at once:
//         {"ok": <resolved tree>}  or  {"error": "<Typesafe Config's message>"}
//       until stdin ends.

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigResolveOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueFactory;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class HoconToJson {
    private static final ConfigRenderOptions JSON = ConfigRenderOptions.concise();

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        if (args.length == 1 && args[0].equals("--batch")) {
            batch(out);
            return;
        }
        Map<String, String> env = new LinkedHashMap<>();
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--env") && i + 1 < args.length) {
                String[] kv = args[++i].split("=", 2);
                env.put(kv[0], kv.length > 1 ? kv[1] : "");
            } else {
                parts.add(Files.readString(Path.of(args[i]), StandardCharsets.UTF_8));
            }
        }
        if (parts.isEmpty()) {
            System.err.println("usage: HoconToJson [--env NAME=VALUE]... FILE... | --batch");
            System.exit(2);
        }
        try {
            out.println(toJson(parts, env));
            out.flush();
        } catch (ConfigException e) {
            System.err.println(e.getMessage());
            System.exit(1);
        }
    }

    /** One request per line in, one result per line out. */
    private static void batch(PrintStream out) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            out.println(answer(line));
            out.flush();
        }
    }

    private static String answer(String request) {
        Config req = ConfigFactory.parseString(request, ConfigParseOptions.defaults().setSyntax(ConfigSyntax.JSON));
        List<String> parts = req.getStringList("parts");
        Map<String, String> env = new LinkedHashMap<>();
        if (req.hasPath("env")) {
            for (Map.Entry<String, Object> e : req.getObject("env").unwrapped().entrySet()) {
                env.put(e.getKey(), String.valueOf(e.getValue()));
            }
        }
        try {
            return "{\"ok\":" + toJson(parts, env) + "}";
        } catch (ConfigException e) {
            return "{\"error\":" + ConfigValueFactory.fromAnyRef(e.getMessage()).render(JSON) + "}";
        }
    }

    /** Parses the concatenated parts and resolves substitutions against the config itself, then `env`. */
    private static String toJson(List<String> parts, Map<String, String> env) {
        Config parsed = ConfigFactory.parseString(String.join("\n", parts));
        Config resolved;
        if (env.isEmpty()) {
            resolved = parsed.resolve(ConfigResolveOptions.noSystem());
        } else {
            // Keys of fromMap are plain keys, not paths, as in Typesafe Config's own environment object.
            Config fakeEnvironment = ConfigValueFactory.fromMap(env).toConfig();
            resolved = parsed.resolveWith(parsed.withFallback(fakeEnvironment), ConfigResolveOptions.noSystem());
        }
        ConfigValue root = resolved.root();
        return root.render(JSON);
    }
}
