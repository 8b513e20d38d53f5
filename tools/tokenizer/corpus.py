"""Training text for the tokenizer fixtures.

Every sentence below was written for this project (no outside source), so the text and the
models trained from it may be redistributed under the project's license (Apache-2.0).
`corpus_lines(seed, variant)` recombines the sentences into many varied lines; variant "fixture"
and variant "unseen" draw on disjoint sentence sets, so that check_unseen.py can train on text
the committed fixtures never saw.
"""

import random
import unicodedata

FIXTURE = {
    "en": [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "A tokenizer splits text into pieces that a language model can read.",
        "Please send the report before Friday, or call me if it is late.",
        "Rain fell all night, and by morning the streets were shining.",
        "She bought three apples, two pears and a loaf of fresh bread.",
        "Our server answered 1,024 requests per second during the test.",
        "The museum opens at 9:30 and closes at 17:00 on weekdays.",
        "He wrote the letter by hand because the printer was broken again.",
        "Mountains in the north stay white with snow until late spring.",
        "Let's meet at the small cafe on the corner of Main Street.",
        "Error: file not found. Check the path and try once more.",
        "The children laughed when the puppy chased its own tail.",
        "Version 2.3.1 fixes a crash that happened on empty input.",
        "Remember to water the plants while I am away for the weekend.",
        "The committee will vote on the new budget next Tuesday morning.",
        "Batteries last longer when they are kept away from heat.",
        "I can't believe it's already December; the year went so fast!",
        "Numbers like 3.14159, 2.71828 and 1.41421 show up everywhere.",
        "The train to the airport leaves every fifteen minutes.",
        "Thinking step by step, we first list the facts and then decide.",
        "Her garden is full of roses, tulips, lilies and sunflowers.",
        "Download speed dropped to 12 MB/s after midnight.",
        "The old bridge was rebuilt in 1998 after a long flood.",
        "Write clear commit messages that explain why, not only what.",
        "Good morning! How did you sleep, and would you like some tea?",
    ],
    "zh": [
        "今天天气很好，我们一起去公园散步吧。",
        "机器学习模型需要大量的数据来训练。",
        "请在周五之前把报告发给我，谢谢。",
        "这个城市的夜景非常美丽，灯火通明。",
        "他每天早上六点起床，然后去跑步。",
        "我们的服务器每秒可以处理一千多个请求。",
        "图书馆周末开放到晚上九点。",
        "学习一门新的语言需要耐心和时间。",
        "妈妈做的饺子是世界上最好吃的。",
        "请问去火车站应该怎么走？",
        "系统检测到一个错误，请稍后再试。",
        "春天来了，花园里的花都开了。",
        "这本书讲述了一个关于友谊的故事。",
        "会议将在下午三点准时开始。",
        "人工智能正在改变我们的生活方式。",
        "我想喝一杯热茶，再吃一块蛋糕。",
        "孩子们在操场上快乐地玩耍。",
        "他用了三年时间完成了这个项目。",
        "请仔细阅读说明书，然后再开始安装。",
        "山上的空气很新鲜，风景也很美。",
        "用户：你好，请介绍一下你自己。",
        "助手：你好！我是一个语言模型，很高兴为你服务。",
        "先思考问题的关键，再一步一步地推理。",
        "北京、上海、广州和深圳都是大城市。",
        "数学考试的成绩下周一公布。",
    ],
    "ja": [
        "今日はとても良い天気ですね。",
        "私は毎朝コーヒーを飲みながら新聞を読みます。",
        "駅までの道を教えていただけますか。",
        "このプログラムは大量のデータを処理できます。",
        "週末に友達と一緒に映画を見に行きました。",
        "桜の花が咲くと、春が来たと感じます。",
        "会議は午後二時から始まる予定です。",
        "日本語を勉強するのはとても楽しいです。",
        "東京の電車はいつも時間通りに来ます。",
        "カタカナとひらがなを両方使います。",
        "エラーが発生しました。もう一度お試しください。",
        "山田さんはピアノを弾くのが上手です。",
        "新しいスマートフォンを買いました。",
        "夏休みに海へ泳ぎに行きたいです。",
        "ありがとうございます、助かりました。",
    ],
    "ru": [
        "Сегодня хорошая погода, пойдём гулять в парк.",
        "Модель обучается на большом количестве текстов.",
        "Пожалуйста, отправьте отчёт до пятницы.",
        "Москва и Санкт-Петербург — крупные города России.",
        "Я люблю читать книги по вечерам у окна.",
        "Поезд отправляется ровно в восемь часов утра.",
        "Ошибка: файл не найден, проверьте путь.",
        "Зимой в лесу очень тихо и много снега.",
        "Спасибо за помощь, это было очень полезно.",
        "Дети играют во дворе до самого вечера.",
        "Новая версия программы работает быстрее.",
        "Мы встретимся у входа в библиотеку.",
    ],
    "ar": [
        "الطقس جميل اليوم، هيا نذهب إلى الحديقة.",
        "يتعلم النموذج من كمية كبيرة من النصوص.",
        "من فضلك أرسل التقرير قبل يوم الجمعة.",
        "أحب قراءة الكتب في المساء.",
        "القطار يغادر في الساعة الثامنة صباحا.",
        "شكرا جزيلا على مساعدتك.",
        "المدينة مزدحمة جدا في فصل الصيف.",
        "تعلم لغة جديدة يحتاج إلى الصبر.",
        "حدث خطأ، يرجى المحاولة مرة أخرى.",
        "الأطفال يلعبون في الساحة.",
    ],
    "misc": [
        "Ça va très bien, merci ! À bientôt.",
        "Größe, Straße, Übung und Äpfel sind deutsche Wörter.",
        "¿Dónde está la estación de tren más cercana?",
        "Το πρωί πίνω καφέ και διαβάζω εφημερίδα.",
        "오늘 날씨가 정말 좋네요. 산책하러 갈까요?",
        "Chúng tôi sẽ gặp nhau vào buổi chiều.",
        "เช้านี้อากาศดีมาก",
        "שלום, מה שלומך היום?",
        "नमस्ते, आप कैसे हैं?",
        "Dziękuję bardzo za pomoc, do zobaczenia.",
    ],
    "emoji": [
        "Great job! 🎉🎉",
        "I love pizza 🍕 and coffee ☕.",
        "Family: 👨‍👩‍👧‍👦 and a thumbs up 👍🏽.",
        "Weather today: ☀️ then 🌧️ later.",
        "Flags 🇨🇳 🇯🇵 🇫🇷 on the wall.",
        "Heart ❤️ and sparkles ✨ everywhere.",
        "Cat 🐱 dog 🐶 rabbit 🐰.",
        "Rocket launch 🚀 at 10:00!",
    ],
    "code": [
        "def add(a, b):\n    return a + b\n",
        "for (let i = 0; i < n; i++) {\n  total += values[i];\n}",
        "if x == None:\n\tprint('missing')\nelse:\n\tprint(x)",
        "SELECT name, age FROM users WHERE age > 30 ORDER BY name;",
        "const url = `https://example.com/api?q=${query}&page=2`;",
        "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
        "    indented line with four spaces",
        "        eight spaces before this one",
        "x = [i * i for i in range(10) if i % 2 == 0]",
        "git commit -m \"Fix the tokenizer\" && git push origin main",
        "{\"key\": \"value\", \"list\": [1, 2, 3], \"ok\": true}",
        "<div class=\"box\"><span>Hello</span></div>",
    ],
    "chat": [
        "[unused9]系统：你是一个乐于助人的助手。[unused10]",
        "[unused9]用户：请用一句话介绍北京。[unused10][unused9]助手：",
        "[unused16]让我想一想这个问题。[unused17]北京是中国的首都。[unused10]",
        "[unused9]用户：What is two plus two? /no_think[unused10]",
        "<|User|>: hello there <|Bot|>: hi!",
    ],
}

UNSEEN = {
    "en": [
        "Lighthouses guided sailors through fog for many centuries.",
        "The recipe asks for two cups of flour and a pinch of salt.",
        "Quarterly revenue rose by 7.5% compared with last year.",
        "A gentle breeze carried the smell of pine across the valley.",
        "Compile the project, run the tests, then open a pull request.",
        "The violinist tuned her instrument before the concert began.",
        "Owls hunt at night and sleep quietly through the day.",
        "Several volunteers cleaned the beach on Saturday afternoon.",
        "Zebras, giraffes and elephants gathered at the waterhole.",
        "The spacecraft sent back photographs of a distant moon.",
    ],
    "zh": [
        "秋天的枫叶变红了，像一片火海。",
        "程序员正在调试一个复杂的并发问题。",
        "这家餐厅的面条又香又有嚼劲。",
        "爷爷喜欢在傍晚的时候下象棋。",
        "暴雨导致部分航班延误或取消。",
        "请把窗户关上，外面风太大了。",
        "长江是中国最长的河流。",
        "她在比赛中获得了第一名。",
    ],
    "ja": [
        "秋になると紅葉がとてもきれいです。",
        "新幹線で大阪まで二時間半かかります。",
        "図書館で静かに本を読みました。",
        "雨が降りそうなので傘を持って行きます。",
    ],
    "ru": [
        "Осенью листья становятся жёлтыми и красными.",
        "Программист исправил сложную ошибку в коде.",
        "Река замёрзла, и дети катаются на коньках.",
    ],
    "ar": [
        "تتساقط أوراق الشجر في فصل الخريف.",
        "أصلح المبرمج خطأ معقدا في البرنامج.",
    ],
    "misc": [
        "Η θάλασσα είναι ήρεμη σήμερα.",
        "가을에는 단풍이 아름답습니다.",
        "Der Herbst bringt bunte Blätter und kühle Luft.",
        "Le marché ouvre tôt le samedi matin.",
        "ฝนตกหนักเมื่อคืนนี้",
        "Kahvaltıda peynir ve zeytin yedik.",
    ],
    "emoji": [
        "Party time 🥳🎈🎂",
        "Team 👩🏾‍💻👨🏻‍🔬 at work",
        "Map 🗺️ compass 🧭 tent ⛺",
    ],
    "code": [
        "fn main() {\n    println!(\"hello\");\n}",
        "while read -r line; do echo \"$line\"; done < input.txt",
        "public static void main(String[] args) { System.out.println(args.length); }",
        "  \t mixed indentation \t here",
    ],
    "chat": [
        "[unused9]用户：写一首关于秋天的短诗。[unused10][unused9]助手：",
        "[unused16]First, recall the facts.[unused17]The answer is 4.[unused10]",
    ],
}


def _mutate(rng, s):
    r = rng.random()
    if r < 0.1:
        return s.upper()
    if r < 0.2:
        return s.lower()
    if r < 0.3:
        return s.replace(" ", "  ")
    if r < 0.35:
        return "  " + s + "\t"
    if r < 0.5:
        return s + " " + str(rng.randint(0, 99999))
    return s


def _random_script_text(rng, length):
    """Random letters from a few Unicode blocks, to widen the character set a little."""
    blocks = [(0x0400, 0x044F), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x4FFF), (0x0621, 0x064A), (0x0041, 0x007A)]
    lo, hi = rng.choice(blocks)
    out = []
    for _ in range(length):
        c = chr(rng.randint(lo, hi))
        if unicodedata.category(c).startswith("L"):
            out.append(c)
    return "".join(out)


def corpus_lines(seed=0, variant="fixture", n=12000):
    rng = random.Random(seed)
    sets = FIXTURE if variant == "fixture" else UNSEEN
    langs = list(sets)
    weights = {"en": 5, "zh": 5, "ja": 2, "ru": 2, "ar": 1, "misc": 1, "emoji": 1, "code": 2, "chat": 1}
    pool = [l for l in langs for _ in range(weights.get(l, 1))]
    lines = []
    for _ in range(n):
        k = rng.randint(1, 3)
        parts = []
        for _ in range(k):
            lang = rng.choice(pool)
            parts.append(_mutate(rng, rng.choice(sets[lang])))
        if rng.random() < 0.05:
            parts.append(_random_script_text(rng, rng.randint(3, 12)))
        sep = rng.choice([" ", " ", "", "\n", "  "])
        lines.append(sep.join(parts))
    return lines
