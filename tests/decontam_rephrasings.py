"""GSM8K test items rewritten in other words, for the numbers rule of ffdata.decontam.

Each entry: (GSM8K test row id as in ffdata/evalsets: "gsm8k/test/<row>", rephrased text).
The rephrasings were written for this project (ffllm, 2026) from the real GSM8K test questions
(openai/grade-school-math, MIT licence; the bundled copy is ffdata/data/evalsets/gsm8k.parquet).
Each keeps the question's numbers (sometimes switching digits and number words, sometimes in
another order) and states the final answer, the way a paraphrased leak would; the wording is
new, so the 13-gram rule alone should not catch them. Used by tests/test_decontam.py and
bench/decontam.py.
"""

REPHRASINGS = [
    (
        "gsm8k/test/0",
        "Each day a farmer's flock of ducks produces 16 eggs. Three of them go into her own "
        "breakfast and she uses four more to bake treats for friends. Whatever is left she sells "
        "at $2 apiece at the market. What are her daily takings? She earns $18.",
    ),
    (
        "gsm8k/test/46",
        "A barista began her shift carrying 80 sticky notes and bought one more pack along the "
        "way. She stuck a note on 220 coffee cups and ended the day with 23 notes left. How big "
        "was the pack she bought? Answer: 163",
    ),
    (
        "gsm8k/test/69",
        "Over 8 weeks a girl is given $5 every week as pocket money. After those 8 weeks her "
        "savings come to $100. What amount did she have at the beginning? The answer is 60.",
    ),
    (
        "gsm8k/test/92",
        "A mother has 4 children. The eldest girl is 5 years older than her brother and 2 years "
        "younger than her sister. The youngest boy is 10 and 1 year younger than the sister. "
        "What is the brother's age?\nSolution: he is 4.",
    ),
    (
        "gsm8k/test/138",
        "A student sat an exam with 75 items, answering 5 items per hour. The next day another "
        "exam had 100 items, done at the same pace. He had 8 hours for the first exam and 6 for "
        "the second. How many items did he not get to? In total 105 were left unanswered.",
    ),
    (
        "gsm8k/test/161",
        "Two friends went fishing at the shore. The first got 10 starfish, 6 seahorses and 3 "
        "clownfish. The second got 5 fewer starfish, 3 fewer seahorses and 2 more clownfish "
        "than the first. How many animals did the pair catch altogether? They caught 32.",
    ),
    (
        "gsm8k/test/207",
        "A trick-or-treat sack holds 25 candy bars and 80 candy apples. A candy bar is twice "
        "the weight of an apple, and one bar weighs 40 grams. What is the weight of the sack's "
        "contents in grams? Final answer: 2600",
    ),
    (
        "gsm8k/test/230",
        "A businessman purchases 12 vehicles for his firm at $20,000 apiece, pays 10% tax on "
        "them, and then pays $1000 per vehicle to register it. What is his total outlay? "
        "He spends $276,000.",
    ),
    (
        "gsm8k/test/299",
        "A commuter's office is 30 miles from home and he is driven there and back daily, 5 "
        "days each week for 50 weeks of the year. The service costs $2 per mile and he tips the "
        "driver $150 every month. What is his yearly cost? #### 31800",
    ),
    (
        "gsm8k/test/322",
        "A girl owns three full cases of crayons plus 2 loose ones, 26 crayons in all. Her "
        "sister owns 46 crayons. How many cases would they need to hold every crayon? 9 cases.",
    ),
    (
        "gsm8k/test/345",
        "A diner owns 40 tables that stand on 4 legs and 50 that stand on 3 legs. Count all "
        "the table legs in the diner. There are 310 legs.",
    ),
    (
        "gsm8k/test/391",
        "Two kids share ice pops in the ratio 5 to 6, and they own 165 ice pops between them. "
        "How many more does the second kid own than the first? Answer: 15",
    ),
    (
        "gsm8k/test/437",
        "Two sisters picked 34 and 22 apples. They split the apples evenly among themselves and "
        "6 more friends. How many apples does each person receive? Each gets 7.",
    ),
    (
        "gsm8k/test/460",
        "A teenager collects empties for cash: a can is worth 2 cents and a bottle 3 cents. Each "
        "week she finishes 3 cans of soda and 5 bottles of water. What does she make from this "
        "over a 4-week month? She makes 84 cents.",
    ),
    (
        "gsm8k/test/506",
        "A musher has 6 dogs and must buy boots for every paw; a dog has 4 paws, and a pair of "
        "boots is $12. What will boots for the whole team cost? The cost is $144.",
    ),
    (
        "gsm8k/test/552",
        "A saleswoman gets 30% of her first $1000 of sales as commission, and an extra 10% on "
        "the part of her sales above $1000. She sold $2500 worth of products. What did she earn? "
        "She earned $450.",
    ),
    (
        "gsm8k/test/575",
        "A pupil was allowed to take home 3 boxes holding 64 crayons each. She melts the stubs "
        "in groups of 8 to make crayon cakes and sells each cake for $1.50. How much can she "
        "raise? Answer: $36",
    ),
    (
        "gsm8k/test/598",
        "A boy wants candies priced at five cents each. His pocket holds 8 quarters, 6 dimes, 14 "
        "nickels and 15 pennies. How many candies can he afford? He can get 69.",
    ),
    (
        "gsm8k/test/621",
        "After hurting his back, a man attended rehab for 6 weeks, going twice each week for "
        "2 hours per visit. Sessions are billed at $125 an hour. What did rehab cost him? $3000",
    ),
    (
        "gsm8k/test/667",
        "A basketball match has 4 periods of 12 minutes. The final period ended level, so 5 "
        "minutes of extra time were added. How long was the match in total? 53 minutes.",
    ),
    (
        "gsm8k/test/690",
        "A boy drops 20 coins in his money box each month. His friend saves 2/5 more coins per "
        "month than he does. After 10 years of saving, how many coins do they have together? "
        "The total is 5760.",
    ),
    (
        "gsm8k/test/713",
        "Every square foot of a floor takes 24 tiles. How many tiles cover two thirds of a 36 "
        "square foot room? You need 576 tiles.",
    ),
    (
        "gsm8k/test/759",
        "Each of 20 music lists contains 300 tracks, and every track lasts 10 hours. What is the "
        "total running time of all 20 lists? 60000 hours.",
    ),
    (
        "gsm8k/test/805",
        "For an engagement ring the stone costs $600 and the band $300, and the jeweller adds a "
        "30% surcharge for making it. What is the total price? Answer: 1170",
    ),
    (
        "gsm8k/test/828",
        "A girl has $40 and her dad hands her $100 more. She then buys 2 pairs of trousers for "
        "$30 each and a purse for $20. How much is left? She has $60 left.",
    ),
    (
        "gsm8k/test/874",
        "A teen is paid $33 for 3 hours of walking dogs. At that rate, what would 12 hours of "
        "work pay? It would pay $132.",
    ),
    (
        "gsm8k/test/943",
        "A man buys 10 albums at $15 each with a 40% discount. He dislikes 5 of them and sells "
        "those for a total of 40. How much money did he lose overall? He is out $50.",
    ),
    (
        "gsm8k/test/989",
        "A cook peels 6 prawns per minute and can fry 30 prawns in 10 minutes. How many minutes "
        "does it take to peel and fry 90 prawns? It takes 45 minutes.",
    ),
    (
        "gsm8k/test/1012",
        "A phone battery pack drained 9% of its capacity per hour for 5 hours, then 7% per hour "
        "for another 3 hours, ending at 28%. What was its charge at the start? It was at 94%.",
    ),
    (
        "gsm8k/test/1127",
        "The record car is 1.25 times as fast as the 2nd fastest car. That 2nd fastest car is "
        "5 times as fast as a typical car, which reaches 120 miles per hour. What is the top "
        "speed of the record car? 750 mph.",
    ),
    (
        "gsm8k/test/1150",
        "A florist had 30 tulips, gave 24 to her mom and later bought 15 more. How many tulips "
        "does she have now? Answer: 21",
    ),
    (
        "gsm8k/test/1173",
        "A normal pack of 100 detergent tablets sells for $12. A bonus pack at the same price "
        "has 20% more tablets. Using 1 tablet per wash, how many washes do you get for $1 with "
        "the bonus pack? 10 washes.",
    ),
    (
        "gsm8k/test/1311",
        "A harbour worker needs 3 feet of rope per foot of pier. The pier is 200 feet long and "
        "he already owns 6 feet of rope. How much rope must he purchase? 594 feet.",
    ),
    (
        "gsm8k/test/115",
        "Wood prices rose 50% after a woman bought some. She has ten spare 2 x 4 x 10 planks "
        "that cost $10 apiece and five 4 x 4 x 10 planks she paid $16 for each. Selling all of "
        "them at the new prices, what is her profit? She makes $90.",
    ),
    (
        "gsm8k/test/966",
        "A woman baked one dozen brownies for herself. Her coworkers gave her 1/2 dozen more, "
        "and at home her friends had 4 dozen waiting. At the party 1 1/2 dozen got eaten. How "
        "many single brownies remain at the end of the day? 48 brownies.",
    ),
]
