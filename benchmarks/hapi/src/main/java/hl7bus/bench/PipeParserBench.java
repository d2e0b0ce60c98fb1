package hl7bus.bench;

import ca.uhn.hl7v2.DefaultHapiContext;
import ca.uhn.hl7v2.HapiContext;
import ca.uhn.hl7v2.VersionLogger;
import ca.uhn.hl7v2.parser.GenericModelClassFactory;
import ca.uhn.hl7v2.parser.PipeParser;
import ca.uhn.hl7v2.validation.impl.ValidationContextFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Single-threaded throughput of HAPI's {@link PipeParser} over a set of HL7 v2 messages.
 *
 * <p>Usage: {@code PipeParserBench [--seconds S] [--warmup S] [--generic] FILE_OR_DIR...}.
 * A directory contributes its {@code *.hl7} files except {@code *.batch.hl7}; each file is one message.
 *
 * <p>Before timing, each message is decoded as UTF-8, a leading BOM is dropped, CR, LF and CRLF
 * segment separators become CR, and blank segments are removed. Messages that the parser throws on
 * are counted as rejected and left out. The accepted messages are parsed in passes, each in a fresh
 * random order, for the warm-up period and then for the measured period (which may end mid-pass),
 * timing every {@code parse} call.
 *
 * <p>Validation is disabled ({@code ValidationContextFactory.noValidation()}), so the figure is
 * parsing cost only. By default messages are parsed into HAPI's version-specific structures
 * ({@code DefaultModelClassFactory}); {@code --generic} uses {@code GenericModelClassFactory}.
 *
 * <p>Prints one JSON line on standard output, and each rejected file with its reason on standard error.
 */
public final class PipeParserBench {

    public static void main(String[] args) throws IOException {
        double seconds = 3.0;
        double warmup = 2.0;
        boolean generic = false;
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--generic" -> generic = true;
                default -> addInput(Paths.get(args[i]), files);
            }
        }

        HapiContext context = new DefaultHapiContext();
        context.setValidationContext(ValidationContextFactory.noValidation());
        if (generic) {
            context.setModelClassFactory(new GenericModelClassFactory());
        }
        PipeParser parser = context.getPipeParser();

        List<String> accepted = new ArrayList<>();
        int rejected = 0;
        for (Path file : files) {
            String message = normalise(Files.readAllBytes(file));
            try {
                parser.parse(message);
                accepted.add(message);
            } catch (Exception | StackOverflowError e) {
                rejected++;
                System.err.println("rejected " + file.getFileName() + ": " + e);
            }
        }

        String model = generic ? "GenericModelClassFactory" : "DefaultModelClassFactory";
        String name = "HAPI PipeParser " + VersionLogger.getVersion();
        if (accepted.isEmpty()) {
            System.out.printf("{\"parser\": \"%s\", \"messages\": 0, \"rejected\": %d, \"msgs_per_s\": 0.0, "
                    + "\"us_per_msg_p50\": 0.0, \"validation\": \"none\", \"model\": \"%s\"}%n",
                    name, rejected, model);
            return;
        }

        String[] messages = accepted.toArray(new String[0]);
        run(parser, messages, (long) (warmup * 1e9), null);
        LongList latencies = new LongList();
        long elapsed = run(parser, messages, (long) (seconds * 1e9), latencies);

        long[] sorted = latencies.toSortedArray();
        double p50us = sorted[sorted.length / 2] / 1e3;
        double perSecond = sorted.length / (elapsed / 1e9);
        System.out.printf("{\"parser\": \"%s\", \"messages\": %d, \"rejected\": %d, \"msgs_per_s\": %.1f, "
                + "\"us_per_msg_p50\": %.2f, \"calls\": %d, \"validation\": \"none\", \"model\": \"%s\", "
                + "\"java\": \"%s\"}%n",
                name, messages.length, rejected, perSecond, p50us, sorted.length, model,
                System.getProperty("java.version"));
    }

    /**
     * Parses the messages in passes, each pass in a fresh random order (fixed seed), until
     * {@code budgetNanos} have elapsed, possibly mid-pass; returns the elapsed nanoseconds.
     */
    private static long run(PipeParser parser, String[] messages, long budgetNanos, LongList latencies) {
        Random random = new Random(0);
        List<String> order = new ArrayList<>(Arrays.asList(messages));
        long start = System.nanoTime();
        long now = start;
        int sink = 0;
        while (now - start < budgetNanos) {
            Collections.shuffle(order, random);
            for (String message : order) {
                long t0 = System.nanoTime();
                try {
                    sink += parser.parse(message).hashCode() & 1;
                } catch (Exception e) {
                    throw new IllegalStateException("message accepted once, rejected later", e);
                }
                now = System.nanoTime();
                if (latencies != null) {
                    latencies.add(now - t0);
                }
                if (now - start >= budgetNanos) {
                    break;
                }
            }
        }
        if (sink == Integer.MIN_VALUE) {
            System.err.println(sink); // keeps the parse results observable to the JIT
        }
        return now - start;
    }

    private static void addInput(Path path, List<Path> files) throws IOException {
        if (!Files.isDirectory(path)) {
            files.add(path);
            return;
        }
        try (Stream<Path> listing = Files.list(path)) {
            listing.filter(p -> {
                        String n = p.getFileName().toString();
                        return n.endsWith(".hl7") && !n.endsWith(".batch.hl7") && Files.isRegularFile(p);
                    })
                    .sorted()
                    .forEach(files::add);
        }
    }

    /** UTF-8 text, no BOM, CR-separated non-blank segments, ending with CR. */
    static String normalise(byte[] raw) {
        String text = new String(raw, StandardCharsets.UTF_8);
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        StringBuilder out = new StringBuilder(text.length() + 1);
        for (String segment : text.split("\r\n|\r|\n")) {
            if (!segment.isBlank()) {
                out.append(segment).append('\r');
            }
        }
        return out.toString();
    }

    /** Growable array of primitive longs. */
    private static final class LongList {
        private long[] values = new long[1 << 16];
        private int size;

        void add(long value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        long[] toSortedArray() {
            long[] copy = Arrays.copyOf(values, size);
            Arrays.sort(copy);
            return copy;
        }
    }
}
